"""Execution history events, as ``GetDurableExecutionHistory`` returns them (docs/protocol.md §8).

One :class:`Event` Struct carries every event type; exactly one ``…Details`` member is
set, named after the event type, as in the Lambda API. Payloads travel in containers
(``{Payload, Truncated}``) so that a history fetched without execution data can withhold
them.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from aiodurable.wire import ErrorObject

__all__ = [
    "CallbackStartedDetails",
    "details_field",
    "ChainedInvokeStartedDetails",
    "ErrorDetails",
    "Event",
    "EventError",
    "EventPayload",
    "EventType",
    "ExecutionPausedDetails",
    "ExecutionResumedDetails",
    "ExecutionStartedDetails",
    "InvocationCompletedDetails",
    "NoDetails",
    "ResultDetails",
    "RetryDetails",
    "StepFailedDetails",
    "StepSucceededDetails",
    "WaitCancelledDetails",
    "WaitStartedDetails",
    "WaitSucceededDetails",
]


class EventType(enum.StrEnum):
    """The type of a history event, as ``GetDurableExecutionHistory`` names it."""

    EXECUTION_STARTED = "ExecutionStarted"
    EXECUTION_SUCCEEDED = "ExecutionSucceeded"
    EXECUTION_FAILED = "ExecutionFailed"
    EXECUTION_TIMED_OUT = "ExecutionTimedOut"
    EXECUTION_STOPPED = "ExecutionStopped"
    CONTEXT_STARTED = "ContextStarted"
    CONTEXT_SUCCEEDED = "ContextSucceeded"
    CONTEXT_FAILED = "ContextFailed"
    WAIT_STARTED = "WaitStarted"
    WAIT_SUCCEEDED = "WaitSucceeded"
    WAIT_CANCELLED = "WaitCancelled"
    STEP_STARTED = "StepStarted"
    STEP_SUCCEEDED = "StepSucceeded"
    STEP_FAILED = "StepFailed"
    CHAINED_INVOKE_STARTED = "ChainedInvokeStarted"
    CHAINED_INVOKE_SUCCEEDED = "ChainedInvokeSucceeded"
    CHAINED_INVOKE_FAILED = "ChainedInvokeFailed"
    CHAINED_INVOKE_TIMED_OUT = "ChainedInvokeTimedOut"
    CHAINED_INVOKE_STOPPED = "ChainedInvokeStopped"
    CALLBACK_STARTED = "CallbackStarted"
    CALLBACK_SUCCEEDED = "CallbackSucceeded"
    CALLBACK_FAILED = "CallbackFailed"
    CALLBACK_TIMED_OUT = "CallbackTimedOut"
    INVOCATION_COMPLETED = "InvocationCompleted"
    EXECUTION_PAUSED = "ExecutionPaused"
    EXECUTION_RESUMED = "ExecutionResumed"


class _History(msgspec.Struct, rename="pascal", omit_defaults=True, frozen=True):
    """Base of the history Structs."""


class EventPayload(_History, frozen=True):
    """``EventInput`` / ``EventResult``: a payload, or ``Truncated`` when withheld."""

    truncated: bool
    payload: str | None = None


class EventError(_History, frozen=True):
    truncated: bool
    payload: ErrorObject | None = None


class NoDetails(_History, frozen=True):
    """``ContextStartedDetails`` / ``StepStartedDetails``: present, and empty."""


class ResultDetails(_History, frozen=True):
    result: EventPayload


class ErrorDetails(_History, frozen=True):
    error: EventError


class ExecutionStartedDetails(_History, frozen=True):
    input: EventPayload
    execution_timeout: int


class RetryDetails(_History, frozen=True):
    current_attempt: int | None = None
    next_attempt_delay_seconds: int | None = None


class StepSucceededDetails(_History, frozen=True):
    result: EventPayload
    retry_details: RetryDetails


class StepFailedDetails(_History, frozen=True):
    error: EventError
    retry_details: RetryDetails


class WaitStartedDetails(_History, frozen=True):
    duration: int
    scheduled_end_timestamp: datetime


class WaitSucceededDetails(_History, frozen=True):
    duration: int | None = None


class WaitCancelledDetails(_History, frozen=True):
    error: EventError | None = None


class CallbackStartedDetails(_History, frozen=True):
    callback_id: str
    heartbeat_timeout: int | None = None
    timeout: int | None = None


class ChainedInvokeStartedDetails(_History, frozen=True):
    function_name: str
    tenant_id: str | None = None
    input: EventPayload | None = None
    executed_version: str | None = None
    durable_execution_arn: str | None = None


class InvocationCompletedDetails(_History, frozen=True):
    start_timestamp: datetime
    end_timestamp: datetime
    request_id: str
    error: EventError | None = None


class ExecutionPausedDetails(_History, frozen=True):
    pause_request_timestamp: datetime
    execution_timeout_paused: bool
    reason: EventPayload | None = None


class ExecutionResumedDetails(_History, frozen=True):
    resume_request_timestamp: datetime
    reason: EventPayload | None = None


class Event(_History, frozen=True):
    """One history event (BOTO ``Event``)."""

    event_type: EventType
    event_id: int
    event_timestamp: datetime
    sub_type: str | None = None
    id: str | None = None
    name: str | None = None
    parent_id: str | None = None
    execution_started_details: ExecutionStartedDetails | None = None
    execution_succeeded_details: ResultDetails | None = None
    execution_failed_details: ErrorDetails | None = None
    execution_timed_out_details: ErrorDetails | None = None
    execution_stopped_details: ErrorDetails | None = None
    context_started_details: NoDetails | None = None
    context_succeeded_details: ResultDetails | None = None
    context_failed_details: ErrorDetails | None = None
    wait_started_details: WaitStartedDetails | None = None
    wait_succeeded_details: WaitSucceededDetails | None = None
    wait_cancelled_details: WaitCancelledDetails | None = None
    step_started_details: NoDetails | None = None
    step_succeeded_details: StepSucceededDetails | None = None
    step_failed_details: StepFailedDetails | None = None
    chained_invoke_started_details: ChainedInvokeStartedDetails | None = None
    chained_invoke_succeeded_details: ResultDetails | None = None
    chained_invoke_failed_details: ErrorDetails | None = None
    chained_invoke_timed_out_details: ErrorDetails | None = None
    chained_invoke_stopped_details: ErrorDetails | None = None
    callback_started_details: CallbackStartedDetails | None = None
    callback_succeeded_details: ResultDetails | None = None
    callback_failed_details: ErrorDetails | None = None
    callback_timed_out_details: ErrorDetails | None = None
    invocation_completed_details: InvocationCompletedDetails | None = None
    execution_paused_details: ExecutionPausedDetails | None = None
    execution_resumed_details: ExecutionResumedDetails | None = None

    @property
    def details(self) -> _History | None:
        """The one ``…Details`` member this event carries."""
        field = _DETAILS_FIELD[self.event_type]
        value: _History | None = getattr(self, field)
        return value


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


_DETAILS_FIELD = {t: _snake(t.value) + "_details" for t in EventType}


def details_field(event_type: EventType) -> str:
    """The name of the ``…Details`` member an event of ``event_type`` carries."""
    return _DETAILS_FIELD[event_type]
