"""Updates from the function: how each accepted ``OperationUpdate`` changes an execution.

:func:`apply_update` is the service side of docs/protocol.md §2.6 for one validated update (not
of type EXECUTION): it stores the operation's new state and writes the history event the
change produces. Chained-invoke targets are resolved by the caller first.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import msgspec

from aiodurable.local.execution import Execution, event_error, event_payload
from aiodurable.local.history import (
    CallbackStartedDetails,
    ChainedInvokeStartedDetails,
    ErrorDetails,
    EventType,
    NoDetails,
    ResultDetails,
    RetryDetails,
    StepFailedDetails,
    StepSucceededDetails,
    WaitCancelledDetails,
    WaitStartedDetails,
)
from aiodurable.local.records import CallbackTimer
from aiodurable.wire import (
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    WaitDetails,
)

__all__ = ["apply_update", "new_callback_id"]

_replace = msgspec.structs.replace


def new_callback_id() -> str:
    """An unguessable callback id: 192 random bits, in the base64 alphabet the API allows."""
    return secrets.token_hex(24)


def apply_update(ex: Execution, u: OperationUpdate, now: datetime) -> None:
    """Apply one validated update (not of type EXECUTION)."""
    old = ex.operations.get(u.id)
    base = old or Operation(
        id=u.id,
        type=u.type,
        status=OperationStatus.STARTED,
        start_timestamp=now,
        parent_id=u.parent_id,
        name=u.name,
        sub_type=u.sub_type,
    )
    handler = {
        OperationType.STEP: _step,
        OperationType.WAIT: _wait,
        OperationType.CONTEXT: _context,
        OperationType.CALLBACK: _callback,
        OperationType.CHAINED_INVOKE: _invoke,
    }[u.type]
    handler(ex, base, u, now)


def _step(ex: Execution, base: Operation, u: OperationUpdate, now: datetime) -> None:
    details = base.step_details or StepDetails(attempt=0)
    attempt = details.attempt or 0
    action = u.action
    if action is OperationAction.START:
        op = _replace(
            base,
            status=OperationStatus.STARTED,
            step_details=_replace(details, next_attempt_timestamp=None),
        )
        ex.put(op, external=False)
        ex.emit(EventType.STEP_STARTED, now, op, step_started_details=NoDetails())
        return
    attempt += 1
    if action is OperationAction.RETRY:
        assert u.step_options is not None
        delay = u.step_options.next_attempt_delay_seconds
        op = _replace(
            base,
            status=OperationStatus.PENDING,
            step_details=StepDetails(
                attempt=attempt,
                next_attempt_timestamp=now + timedelta(seconds=delay),
                result=u.payload,
                error=u.error,
            ),
        )
        retry = RetryDetails(current_attempt=attempt, next_attempt_delay_seconds=delay)
    else:
        op = _replace(
            base,
            status=(
                OperationStatus.SUCCEEDED
                if action is OperationAction.SUCCEED
                else OperationStatus.FAILED
            ),
            end_timestamp=now,
            step_details=StepDetails(attempt=attempt, result=u.payload, error=u.error),
        )
        retry = RetryDetails(current_attempt=attempt)
    ex.put(op, external=False)
    if u.error is None and action is not OperationAction.FAIL:
        ex.emit(
            EventType.STEP_SUCCEEDED,
            now,
            op,
            step_succeeded_details=StepSucceededDetails(event_payload(u.payload), retry),
        )
    else:
        ex.emit(
            EventType.STEP_FAILED,
            now,
            op,
            step_failed_details=StepFailedDetails(event_error(u.error), retry),
        )


def _wait(ex: Execution, base: Operation, u: OperationUpdate, now: datetime) -> None:
    if u.action is OperationAction.START:
        assert u.wait_options is not None
        seconds = u.wait_options.wait_seconds
        end = now + timedelta(seconds=seconds)
        op = _replace(base, wait_details=WaitDetails(scheduled_end_timestamp=end))
        ex.put(op, external=False)
        ex.emit(
            EventType.WAIT_STARTED,
            now,
            op,
            wait_started_details=WaitStartedDetails(duration=seconds, scheduled_end_timestamp=end),
        )
        return
    op = _replace(base, status=OperationStatus.CANCELLED, end_timestamp=now)
    ex.put(op, external=False)
    ex.emit(
        EventType.WAIT_CANCELLED,
        now,
        op,
        wait_cancelled_details=WaitCancelledDetails(
            error=event_error(u.error) if u.error is not None else None
        ),
    )


def _context(ex: Execution, base: Operation, u: OperationUpdate, now: datetime) -> None:
    if u.action is OperationAction.START:
        ex.put(base, external=False)
        ex.emit(EventType.CONTEXT_STARTED, now, base, context_started_details=NoDetails())
        return
    succeeded = u.action is OperationAction.SUCCEED
    op = _replace(
        base,
        status=OperationStatus.SUCCEEDED if succeeded else OperationStatus.FAILED,
        end_timestamp=now,
        context_details=ContextDetails(
            replay_children=u.context_options.replay_children if u.context_options else None,
            result=u.payload,
            error=u.error,
        ),
    )
    ex.put(op, external=False)
    if succeeded:
        ex.emit(
            EventType.CONTEXT_SUCCEEDED,
            now,
            op,
            context_succeeded_details=ResultDetails(event_payload(u.payload)),
        )
    else:
        ex.emit(
            EventType.CONTEXT_FAILED,
            now,
            op,
            context_failed_details=ErrorDetails(event_error(u.error)),
        )


def _callback(ex: Execution, base: Operation, u: OperationUpdate, now: datetime) -> None:
    options = u.callback_options
    timeout = options.timeout_seconds if options else 0
    heartbeat = options.heartbeat_timeout_seconds if options else 0
    callback_id = new_callback_id()
    op = _replace(base, callback_details=CallbackDetails(callback_id=callback_id))
    ex.record.callbacks[op.id] = CallbackTimer(
        callback_id=callback_id,
        timeout_at=now + timedelta(seconds=timeout) if timeout > 0 else None,
        heartbeat_seconds=heartbeat,
        heartbeat_at=now + timedelta(seconds=heartbeat) if heartbeat > 0 else None,
    )
    ex.put(op, external=False)
    ex.emit(
        EventType.CALLBACK_STARTED,
        now,
        op,
        callback_started_details=CallbackStartedDetails(
            callback_id=callback_id,
            timeout=timeout or None,
            heartbeat_timeout=heartbeat or None,
        ),
    )


def _invoke(ex: Execution, base: Operation, u: OperationUpdate, now: datetime) -> None:
    # The backend resolves the target first and fills in ``record.invokes``.
    assert u.chained_invoke_options is not None
    link = ex.record.invokes.get(u.id)
    op = _replace(base, chained_invoke_details=ChainedInvokeDetails())
    ex.put(op, external=False)
    options = u.chained_invoke_options
    ex.emit(
        EventType.CHAINED_INVOKE_STARTED,
        now,
        op,
        chained_invoke_started_details=ChainedInvokeStartedDetails(
            function_name=options.function_name,
            tenant_id=options.tenant_id,
            input=event_payload(u.payload),
            executed_version="$LATEST",
            durable_execution_arn=link.child_arn if link else None,
        ),
    )
