"""What the local backend keeps per execution, as stored by every store."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from aiodurable.wire import ErrorObject

__all__ = [
    "CallbackTimer",
    "ClientTokenUse",
    "ExecutionInfo",
    "ExecutionRecord",
    "ExecutionStatus",
    "InvokeLink",
    "PauseState",
    "TERMINAL_EXECUTION_STATUSES",
    "public_status",
]


class ExecutionStatus(enum.StrEnum):
    """``GetDurableExecution.Status``.

    A record's own ``status`` is ``RUNNING`` or terminal; ``PAUSING`` and ``PAUSED`` are
    what a running execution with a :class:`PauseState` shows (see :func:`public_status`).
    ``DELETING`` is never shown by the local backend: a deletion is one transaction,
    finished before its answer.
    """

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"
    DELETING = "DELETING"
    PAUSING = "PAUSING"
    PAUSED = "PAUSED"


TERMINAL_EXECUTION_STATUSES = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.STOPPED,
    }
)


class CallbackTimer(msgspec.Struct, kw_only=True):
    """Timeouts armed for a started callback (0 seconds = none)."""

    callback_id: str
    timeout_at: datetime | None = None
    heartbeat_seconds: int = 0
    heartbeat_at: datetime | None = None


class InvokeLink(msgspec.Struct, kw_only=True):
    """A chained invoke in flight: its target and, for a durable target, its execution."""

    function_name: str
    payload: str | None = None
    child_arn: str | None = None
    #: The target was started (it waits for the end of the invocation that called it).
    dispatched: bool = False


class PauseState(msgspec.Struct, kw_only=True):
    """A ``PauseDurableExecution`` in force (``PauseDetails``).

    ``paused_at`` is ``None`` while the pause waits for the running invocation's next
    checkpoint (``PAUSING``). With ``execution_timeout_paused``, the record's
    ``timeout_at`` is parked at the 366-day cap while paused and the deadline it had is
    kept in ``timeout_at_before``; resuming moves it on by the time spent paused.
    """

    requested_at: datetime
    reason: str | None = None
    execution_timeout_paused: bool = True
    paused_at: datetime | None = None
    timeout_at_before: datetime | None = None


class ClientTokenUse(msgspec.Struct, kw_only=True):
    """A ``ClientToken`` a pause or resume request used, for idempotent repeats."""

    operation: str
    parameters: str
    at: datetime


class ExecutionRecord(msgspec.Struct, kw_only=True):
    """The execution itself; operations and events are stored beside it."""

    arn: str
    function_name: str
    name: str
    status: ExecutionStatus = ExecutionStatus.RUNNING
    input_payload: str | None = None
    result: str | None = None
    error: ErrorObject | None = None
    start_timestamp: datetime
    end_timestamp: datetime | None = None
    execution_timeout: int
    timeout_at: datetime
    #: The only checkpoint token accepted now; ``None`` while no invocation runs.
    token: str | None = None
    token_seq: int = 0
    invocations: int = 0
    #: Set while an invocation runs: found set after a restart, it was interrupted.
    invocation_started: datetime | None = None
    request_id: str | None = None
    failed_invocations: int = 0
    invalid_pendings: int = 0
    wants_invocation: bool = True
    invoke_not_before: datetime | None = None
    #: Operations changed while the function was not looking (next ``UpdatedOperationIds``).
    updated_ids: list[str] = msgspec.field(default_factory=list)
    #: Operations to return in the next checkpoint response.
    delta_ids: list[str] = msgspec.field(default_factory=list)
    callbacks: dict[str, CallbackTimer] = msgspec.field(default_factory=dict)
    invokes: dict[str, InvokeLink] = msgspec.field(default_factory=dict)
    parent_arn: str | None = None
    parent_operation_id: str | None = None
    next_event_id: int = 1
    #: The pause in force, if any (``PAUSING`` / ``PAUSED``).
    pause: PauseState | None = None
    #: Client tokens of recent pause / resume requests, by token.
    client_tokens: dict[str, ClientTokenUse] = msgspec.field(default_factory=dict)


class ExecutionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of an execution (``GetDurableExecution``)."""

    arn: str
    name: str
    function_name: str
    function_arn: str
    status: ExecutionStatus
    start_timestamp: datetime
    end_timestamp: datetime | None = None
    input_payload: str | None = None
    result: str | None = None
    error: ErrorObject | None = None
    parent_arn: str | None = None
    execution_timeout: int | None = None
    #: When the execution times out as things stand (``None`` once it ended).
    expected_timeout_at: datetime | None = None
    pause_requested_at: datetime | None = None
    pause_reason: str | None = None
    execution_timeout_paused: bool | None = None

    @property
    def done(self) -> bool:
        """Whether the execution reached a terminal status."""
        return self.status in TERMINAL_EXECUTION_STATUSES


def public_status(record: ExecutionRecord) -> ExecutionStatus:
    """The status ``GetDurableExecution`` shows: terminal, else ``PAUSING``/``PAUSED``."""
    pause = record.pause
    if record.status in TERMINAL_EXECUTION_STATUSES or pause is None:
        return record.status
    return ExecutionStatus.PAUSING if pause.paused_at is None else ExecutionStatus.PAUSED
