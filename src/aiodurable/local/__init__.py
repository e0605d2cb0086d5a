"""The embedded local backend: the durable execution service in your process.

It validates and applies checkpoints as the service does, keeps operations and the
execution history, and re-invokes handlers when waits end, retries come due, callbacks
complete or chained invokes finish. Time is real or virtual; executions live in memory
or in SQLite; :mod:`aiodurable.local.http` serves the same backend on Lambda's REST
routes.
"""

from aiodurable.local.backend import DurableTarget, LocalBackend
from aiodurable.local.clock import Clock, RealClock, VirtualClock
from aiodurable.local.errors import (
    BackendClosedError,
    CallbackExpiredError,
    ExecutionAlreadyStartedError,
    ExecutionStalledError,
    InvalidParameterError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceError,
)
from aiodurable.local.history import Event, EventType
from aiodurable.local.records import ExecutionInfo, ExecutionStatus
from aiodurable.local.sqlite_store import SqliteStore
from aiodurable.local.store import MemoryStore, Store, StoredExecution

__all__ = [
    "BackendClosedError",
    "CallbackExpiredError",
    "Clock",
    "DurableTarget",
    "Event",
    "EventType",
    "ExecutionAlreadyStartedError",
    "ExecutionInfo",
    "ExecutionStalledError",
    "ExecutionStatus",
    "InvalidParameterError",
    "LocalBackend",
    "MemoryStore",
    "RealClock",
    "ResourceConflictError",
    "ResourceNotFoundError",
    "ServiceError",
    "SqliteStore",
    "Store",
    "StoredExecution",
    "VirtualClock",
]
