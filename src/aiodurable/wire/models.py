"""Wire models of the durable execution API (docs/protocol.md §1, §2, §5).

Every JSON field on the wire is PascalCase; the Structs use snake_case attributes and
``rename="pascal"``. Optional members default to ``None`` and are omitted when encoding,
because the service treats an absent field and an empty one differently.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

__all__ = [
    "CallbackDetails",
    "CallbackOptions",
    "ChainedInvokeDetails",
    "ChainedInvokeOptions",
    "CheckpointResponse",
    "ContextDetails",
    "ContextOptions",
    "ErrorObject",
    "ExecutionDetails",
    "ExecutionState",
    "InvocationInput",
    "InvocationOutput",
    "InvocationStatus",
    "Operation",
    "OperationAction",
    "OperationStatus",
    "OperationType",
    "OperationUpdate",
    "StepDetails",
    "StepOptions",
    "TERMINAL_STATUSES",
    "WaitDetails",
    "WaitOptions",
]


class OperationType(enum.StrEnum):
    EXECUTION = "EXECUTION"
    CONTEXT = "CONTEXT"
    STEP = "STEP"
    WAIT = "WAIT"
    CALLBACK = "CALLBACK"
    CHAINED_INVOKE = "CHAINED_INVOKE"


class OperationStatus(enum.StrEnum):
    STARTED = "STARTED"
    PENDING = "PENDING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


TERMINAL_STATUSES = frozenset(
    {
        OperationStatus.SUCCEEDED,
        OperationStatus.FAILED,
        OperationStatus.CANCELLED,
        OperationStatus.TIMED_OUT,
        OperationStatus.STOPPED,
    }
)


class OperationAction(enum.StrEnum):
    START = "START"
    SUCCEED = "SUCCEED"
    FAIL = "FAIL"
    RETRY = "RETRY"
    CANCEL = "CANCEL"


class InvocationStatus(enum.StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"


class _Wire(msgspec.Struct, rename="pascal", omit_defaults=True, frozen=True, gc=False):
    """Base of every wire Struct.

    Wire values never form reference cycles, so they are not tracked by the cyclic
    garbage collector (``gc=False``): an invocation holding thousands of operations
    does not make every collection slower.
    """


class ErrorObject(_Wire, frozen=True):
    error_type: str | None = None
    error_message: str | None = None
    error_data: str | None = None
    stack_trace: list[str] | None = None


class ExecutionDetails(_Wire, frozen=True):
    input_payload: str | None = None


class ContextDetails(_Wire, frozen=True):
    replay_children: bool | None = None
    result: str | None = None
    error: ErrorObject | None = None


class StepDetails(_Wire, frozen=True):
    attempt: int | None = None
    next_attempt_timestamp: datetime | None = None
    result: str | None = None
    error: ErrorObject | None = None


class WaitDetails(_Wire, frozen=True):
    scheduled_end_timestamp: datetime | None = None


class CallbackDetails(_Wire, frozen=True):
    callback_id: str | None = None
    result: str | None = None
    error: ErrorObject | None = None


class ChainedInvokeDetails(_Wire, frozen=True):
    result: str | None = None
    error: ErrorObject | None = None


class Operation(_Wire, frozen=True):
    """One operation as the service stores and returns it (docs/protocol.md §2.1)."""

    id: str
    type: OperationType
    status: OperationStatus
    start_timestamp: datetime | None = None
    end_timestamp: datetime | None = None
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    execution_details: ExecutionDetails | None = None
    context_details: ContextDetails | None = None
    step_details: StepDetails | None = None
    wait_details: WaitDetails | None = None
    callback_details: CallbackDetails | None = None
    chained_invoke_details: ChainedInvokeDetails | None = None

    @property
    def recorded_result(self) -> str | None:
        """The result text recorded in the details of the operation's kind, if any."""
        for details in self._outcome_details():
            if details is not None and details.result is not None:
                return details.result
        return None

    @property
    def recorded_error(self) -> ErrorObject | None:
        """The error recorded in the details of the operation's kind, if any."""
        for details in self._outcome_details():
            if details is not None and details.error is not None:
                return details.error
        return None

    def _outcome_details(
        self,
    ) -> tuple[
        StepDetails | None,
        ContextDetails | None,
        CallbackDetails | None,
        ChainedInvokeDetails | None,
    ]:
        return (
            self.step_details,
            self.context_details,
            self.callback_details,
            self.chained_invoke_details,
        )


class ContextOptions(_Wire, frozen=True):
    # No default: the service expects ReplayChildren on every CONTEXT SUCCEED
    # (docs/protocol.md §2.7).
    replay_children: bool


class StepOptions(_Wire, frozen=True):
    next_attempt_delay_seconds: int


class WaitOptions(_Wire, frozen=True):
    wait_seconds: int


class CallbackOptions(_Wire, frozen=True):
    # Both always sent; 0 means "no timeout" (docs/protocol.md §2.7).
    timeout_seconds: int
    heartbeat_timeout_seconds: int


class ChainedInvokeOptions(_Wire, frozen=True):
    function_name: str
    tenant_id: str | None = None
    x_amzn_trace_id: str | None = msgspec.field(default=None, name="XAmznTraceId")


class OperationUpdate(_Wire, frozen=True):
    """One update sent in ``CheckpointDurableExecution`` (docs/protocol.md §2.2)."""

    id: str
    type: OperationType
    action: OperationAction
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    payload: str | None = None
    error: ErrorObject | None = None
    context_options: ContextOptions | None = None
    step_options: StepOptions | None = None
    wait_options: WaitOptions | None = None
    callback_options: CallbackOptions | None = None
    chained_invoke_options: ChainedInvokeOptions | None = None


class ExecutionState(_Wire, frozen=True):
    """A page of operations: ``InitialExecutionState``, ``NewExecutionState`` or a
    ``GetDurableExecutionState`` response."""

    operations: list[Operation] = msgspec.field(default_factory=list)
    next_marker: str | None = None


class CheckpointResponse(_Wire, frozen=True):
    new_execution_state: ExecutionState = msgspec.field(default_factory=ExecutionState)
    checkpoint_token: str | None = None


class InvocationInput(_Wire, frozen=True):
    """The Lambda event of a durable invocation (docs/protocol.md §1.2)."""

    durable_execution_arn: str
    checkpoint_token: str
    initial_execution_state: ExecutionState = msgspec.field(default_factory=ExecutionState)
    updated_operation_ids: list[str] | None = None


class InvocationOutput(_Wire, frozen=True):
    """What the handler returns to Lambda (docs/protocol.md §1.5)."""

    status: InvocationStatus
    result: str | None = None
    error: ErrorObject | None = None
