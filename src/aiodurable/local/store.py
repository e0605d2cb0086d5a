"""Where the local backend keeps executions: the store protocol and the memory store.

The backend holds every execution in memory and writes each accepted change through to
its store *before* acknowledging it, so a restarted backend over the same store resumes
where the last acknowledged change left off. Stores are synchronous on purpose: each
save is one small transaction, cheap enough to run on the event loop (no threads).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from aiodurable.local.history import Event
from aiodurable.local.records import ExecutionRecord
from aiodurable.wire import Operation

__all__ = ["MemoryStore", "Store", "StoredExecution"]


@dataclass
class StoredExecution:
    """One execution as loaded from a store; operations in creation order."""

    record: ExecutionRecord
    operations: list[Operation] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class Store(Protocol):
    """Persistence of executions, operations and history events."""

    def load(self) -> list[StoredExecution]:
        """Every stored execution, in the order they were created."""
        ...

    def save(
        self, record: ExecutionRecord, operations: Iterable[Operation], events: Iterable[Event]
    ) -> None:
        """Durably record the execution, upsert ``operations`` and append ``events``."""
        ...

    def delete(self, arn: str) -> None:
        """Remove the execution, its operations and events; nothing of it remains."""
        ...

    def close(self) -> None:
        """Release what the store holds open."""
        ...


_encode = msgspec.json.Encoder().encode


class _Blobs:
    __slots__ = ("events", "operations", "record")

    def __init__(self) -> None:
        self.record = b""
        self.operations: dict[str, bytes] = {}
        self.events: list[bytes] = []


class MemoryStore:
    """Keeps encoded executions in this process.

    A new backend opened over the same ``MemoryStore`` resumes its unfinished executions,
    which is how tests exercise restarts without a file. Nothing survives the process.
    """

    def __init__(self) -> None:
        self._executions: dict[str, _Blobs] = {}

    def load(self) -> list[StoredExecution]:
        """Nothing: a memory store starts empty."""
        loaded = []
        for blobs in self._executions.values():
            loaded.append(
                StoredExecution(
                    msgspec.json.decode(blobs.record, type=ExecutionRecord),
                    [msgspec.json.decode(b, type=Operation) for b in blobs.operations.values()],
                    [msgspec.json.decode(b, type=Event) for b in blobs.events],
                )
            )
        return loaded

    def save(
        self, record: ExecutionRecord, operations: Iterable[Operation], events: Iterable[Event]
    ) -> None:
        """Keep the execution, its operations and new events."""
        blobs = self._executions.get(record.arn)
        if blobs is None:
            blobs = self._executions[record.arn] = _Blobs()
        blobs.record = _encode(record)
        for op in operations:
            blobs.operations[op.id] = _encode(op)
        blobs.events.extend(_encode(event) for event in events)

    def delete(self, arn: str) -> None:
        """Forget the execution."""
        self._executions.pop(arn, None)

    def close(self) -> None:
        """Nothing to release."""
