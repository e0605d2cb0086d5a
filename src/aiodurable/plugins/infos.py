"""What a plugin hook receives: one frozen info object per hook.

The fields follow the official SDK's plugin contract (``aws_durable_execution_sdk_python
.plugin``) name for name, plus ``execution_arn`` on every operation-level info and the
operation maps on the invocation infos.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar

import msgspec

from aiodurable.wire import (
    ErrorObject,
    Operation,
    OperationStatus,
    OperationType,
)
from aiodurable.wire.identity import OperationIdentity

__all__ = [
    "InvocationEndInfo",
    "InvocationEndStatus",
    "InvocationInfo",
    "InvocationStartInfo",
    "OperationChangeInfo",
    "OperationEndInfo",
    "OperationInfo",
    "OperationStartInfo",
    "UserFunctionEndInfo",
    "UserFunctionOutcome",
    "UserFunctionStartInfo",
    "identified",
    "info_of",
]


class OperationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An operation as a hook sees it; the base of every operation-level info."""

    operation_id: str
    operation_type: OperationType
    #: The wire sub-type token: ``Step``, ``Wait``, ``WaitForCondition``,
    #: ``RunInChildContext``, ``Parallel``, ``ParallelBranch``, ``Map``, ``MapIteration``,
    #: ``Callback``, ``WaitForCallback``, ``ChainedInvoke`` …
    sub_type: str | None
    name: str | None
    parent_id: str | None
    #: When the service recorded the operation's start (``None`` before it has).
    start_time: datetime | None
    #: True when the operation was recorded before this invocation: seen through replay
    #: (a pending operation reached again, a retry's new START, a context re-run).
    is_replayed: bool
    status: OperationStatus
    #: When the operation ended; ``None`` while it is pending.
    end_time: datetime | None = None
    #: The checkpointed serialized result, exactly as recorded (``None`` when absent).
    result: str | None = None
    error: ErrorObject | None = None
    #: Steps and wait-for-condition checks: the attempt number (1-based).
    attempt: int | None = None
    #: The execution the operation belongs to.
    execution_arn: str | None = None

    @classmethod
    def from_operation(
        cls, operation: Operation, *, is_replayed: bool = False, execution_arn: str | None = None
    ) -> OperationInfo:
        """The info of a recorded operation."""
        return info_of(cls, operation, is_replayed=is_replayed, execution_arn=execution_arn)


class OperationStartInfo(OperationInfo, frozen=True, kw_only=True):
    """Passed to ``on_operation_start``."""


class OperationEndInfo(OperationInfo, frozen=True, kw_only=True):
    """Passed to ``on_operation_end``: ``status`` is terminal."""


class OperationChangeInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Passed to ``on_operation_change`` after a checkpoint response was merged.

    ``updated_operations`` holds the operations whose status the response changed (a
    subset of ``operations``, the invocation's full operation map). Both are read-only
    views, valid during the hook; copy them (``dict(info.operations)``) to keep them.
    """

    execution_arn: str | None
    updated_operations: Mapping[str, OperationInfo]
    operations: Mapping[str, OperationInfo]


class UserFunctionOutcome(enum.StrEnum):
    """How a run of user code ended."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    #: It left without a result or an error of its own: the invocation suspended (its
    #: task was cancelled), an early completion abandoned its branch, or the process is
    #: exiting. The operation may run again in a later invocation, with its own start
    #: and end.
    INCOMPLETE = "INCOMPLETE"


class UserFunctionStartInfo(OperationInfo, frozen=True, kw_only=True):
    """Passed to ``on_user_function_start``; ``start_time`` is now."""

    #: True when a context function (child context, branch, map item) re-runs so that
    #: its recorded child operations replay.
    is_replay_children: bool = False


class UserFunctionEndInfo(OperationInfo, frozen=True, kw_only=True):
    """Passed to ``on_user_function_end``; ``end_time`` is now, ``error`` set on failure
    (``None`` for an ``INCOMPLETE`` run)."""

    is_replay_children: bool = False
    outcome: UserFunctionOutcome


class InvocationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The fields both invocation hooks receive."""

    #: The Lambda request id (a local id when the handler runs without a Lambda context).
    request_id: str | None
    execution_arn: str | None
    #: True when no operation had been recorded before: the execution's first invocation.
    is_first_invocation: bool
    #: When the execution started (its EXECUTION operation's start).
    execution_start_time: datetime | None = None
    #: Every operation recorded when the invocation started, by id (read-only view).
    operations: Mapping[str, OperationInfo] = msgspec.field(default_factory=dict)
    #: The operations the service changed while the function was suspended
    #: (``UpdatedOperationIds``): fired timers, completed callbacks and invokes, due
    #: retries.
    updated_operations: Mapping[str, OperationInfo] = msgspec.field(default_factory=dict)


class InvocationStartInfo(InvocationInfo, frozen=True, kw_only=True):
    """Passed to ``on_invocation_start``."""


class InvocationEndStatus(enum.StrEnum):
    """How an invocation ended, as ``on_invocation_end`` reports it.

    The first three are the statuses of the invocation's output; ``RETRY`` is the
    plugins' own (the official SDK's internal retry status): the invocation raised
    instead of returning an output — a retryable checkpoint failure, ``sys.exit`` in
    user code — so Lambda invokes the function again and the execution goes on.
    """

    #: The execution succeeded.
    SUCCEEDED = "SUCCEEDED"
    #: The execution failed.
    FAILED = "FAILED"
    #: The execution suspended (waits, retries, callbacks or invokes pending).
    PENDING = "PENDING"
    #: This invocation failed; the execution did not end and will be invoked again.
    RETRY = "RETRY"


class InvocationEndInfo(InvocationInfo, frozen=True, kw_only=True):
    """Passed to ``on_invocation_end``: how the invocation ended, and the error.

    ``status`` is ``SUCCEEDED`` or ``FAILED`` when the execution ended, ``PENDING`` when
    it suspended, ``RETRY`` when the invocation itself failed and the execution goes on
    (``error`` is then the invocation's error); ``operations`` is the map as the
    invocation left it.
    """

    status: InvocationEndStatus
    error: ErrorObject | None = None


_Info = TypeVar("_Info", bound=OperationInfo)


def info_of(
    cls: type[_Info], op: Operation, *, is_replayed: bool, execution_arn: str | None
) -> _Info:
    """An info of type ``cls`` describing recorded operation ``op``."""
    return cls(
        operation_id=op.id,
        operation_type=op.type,
        sub_type=op.sub_type,
        name=op.name,
        parent_id=op.parent_id,
        start_time=op.start_timestamp,
        end_time=op.end_timestamp,
        is_replayed=is_replayed,
        status=op.status,
        result=op.recorded_result,
        error=op.recorded_error,
        attempt=op.step_details.attempt if op.step_details is not None else None,
        execution_arn=execution_arn,
    )


def identified(cls: type[_Info], identity: OperationIdentity, **fields: object) -> _Info:
    """An info of type ``cls`` about the operation ``identity`` names, with ``fields``."""
    return cls(
        operation_id=identity.id,
        operation_type=identity.type,
        sub_type=identity.sub_type,
        name=identity.name,
        parent_id=identity.parent_id,
        **fields,  # type: ignore[arg-type]
    )
