"""An execution's operations rebuilt from its history, for a runner that sees only the
Lambda API (``GetDurableExecutionHistory``), not the service's operation table.

Each operation takes its identity from its first event (the ``…Started`` one) and its
status, result, error and attempt from the latest; the list is in the order the
operations started, as the local backend lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import msgspec

from aiodurable.local.history import Event, EventError, EventPayload, EventType
from aiodurable.wire import (
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    ErrorObject,
    ExecutionDetails,
    Operation,
    OperationStatus,
    OperationType,
    StepDetails,
    WaitDetails,
)

__all__ = ["operations_from_history"]

_TYPES = {
    "Execution": OperationType.EXECUTION,
    "Context": OperationType.CONTEXT,
    "Wait": OperationType.WAIT,
    "Step": OperationType.STEP,
    "ChainedInvoke": OperationType.CHAINED_INVOKE,
    "Callback": OperationType.CALLBACK,
}

_STATUSES = {
    "Started": OperationStatus.STARTED,
    "Succeeded": OperationStatus.SUCCEEDED,
    "Failed": OperationStatus.FAILED,
    "TimedOut": OperationStatus.TIMED_OUT,
    "Stopped": OperationStatus.STOPPED,
    "Cancelled": OperationStatus.CANCELLED,
}


def _split(event_type: EventType) -> tuple[OperationType, OperationStatus] | None:
    for prefix, op_type in _TYPES.items():
        if event_type.value.startswith(prefix):
            status = _STATUSES.get(event_type.value[len(prefix) :])
            return (op_type, status) if status is not None else None
    return None


def _payload(container: EventPayload | None) -> str | None:
    return container.payload if container is not None else None


def _error(container: EventError | None) -> ErrorObject | None:
    return container.payload if container is not None else None


def _details_of(event: Event) -> tuple[str | None, ErrorObject | None]:
    details: Any = event.details
    result = _payload(getattr(details, "result", None))
    error = _error(getattr(details, "error", None))
    return result, error


def operations_from_history(events: Iterable[Event]) -> list[Operation]:
    """The operations the history ``events`` describe, in the order they started."""
    operations: dict[str, Operation] = {}
    for event in events:
        split = _split(event.event_type)
        if split is None or event.id is None:
            continue  # InvocationCompleted, or an event type this version does not know
        op_type, status = split
        op = operations.get(event.id)
        if op is None:
            op = Operation(
                id=event.id,
                type=op_type,
                status=status,
                start_timestamp=event.event_timestamp,
                parent_id=event.parent_id,
                name=event.name,
                sub_type=event.sub_type,
            )
        changes: dict[str, Any] = {"status": status}
        if status is not OperationStatus.STARTED:
            changes["end_timestamp"] = event.event_timestamp
        result, error = _details_of(event)
        if op_type is OperationType.EXECUTION:
            started = event.execution_started_details
            if started is not None:
                changes["execution_details"] = ExecutionDetails(
                    input_payload=_payload(started.input)
                )
        elif op_type is OperationType.STEP:
            changes.update(_step(event, op, status, result, error))
        elif op_type is OperationType.WAIT:
            wait = event.wait_started_details
            if wait is not None:
                changes["wait_details"] = WaitDetails(
                    scheduled_end_timestamp=wait.scheduled_end_timestamp
                )
        elif op_type is OperationType.CALLBACK:
            started_cb = event.callback_started_details
            callback_id = (
                started_cb.callback_id
                if started_cb is not None
                else (op.callback_details.callback_id if op.callback_details else None)
            )
            changes["callback_details"] = CallbackDetails(
                callback_id=callback_id, result=result, error=error
            )
        elif op_type is OperationType.CONTEXT:
            changes["context_details"] = ContextDetails(result=result, error=error)
        elif op_type is OperationType.CHAINED_INVOKE:
            changes["chained_invoke_details"] = ChainedInvokeDetails(result=result, error=error)
        operations[event.id] = msgspec.structs.replace(op, **changes)
    return list(operations.values())


def _step(
    event: Event,
    op: Operation,
    status: OperationStatus,
    result: str | None,
    error: ErrorObject | None,
) -> dict[str, Any]:
    previous = op.step_details or StepDetails()
    if status is OperationStatus.STARTED:
        return {"step_details": msgspec.structs.replace(previous, next_attempt_timestamp=None)}
    details: Any = event.details
    retry = getattr(details, "retry_details", None)
    attempt = retry.current_attempt if retry is not None else None
    delay = retry.next_attempt_delay_seconds if retry is not None else None
    if delay is not None:
        # An attempt with another one scheduled (a retry, or a wait-for-condition poll):
        # the step is PENDING until then.
        return {
            "status": OperationStatus.PENDING,
            "end_timestamp": None,
            "step_details": StepDetails(
                attempt=attempt,
                next_attempt_timestamp=event.event_timestamp + timedelta(seconds=delay),
                result=result,
                error=error,
            ),
        }
    return {"step_details": StepDetails(attempt=attempt, result=result, error=error)}
