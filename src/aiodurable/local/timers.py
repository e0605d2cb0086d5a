"""Timer-driven transitions of one execution (docs/protocol.md §2.6).

A wait ends, a step retry comes due, a callback times out (overall or on heartbeat), the
execution itself times out. :func:`fire_timers` applies what is due; :func:`next_timer`
says when the next one is, for the scheduler.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from aiodurable.local.execution import Execution
from aiodurable.local.history import EventType, WaitSucceededDetails
from aiodurable.local.records import ExecutionStatus
from aiodurable.wire import ErrorObject, OperationStatus, OperationType

__all__ = [
    "CALLBACK_HEARTBEAT_ERROR",
    "CALLBACK_TIMEOUT_ERROR",
    "EXECUTION_TIMEOUT_ERROR",
    "fire_timers",
    "next_timer",
]

_replace = msgspec.structs.replace

CALLBACK_TIMEOUT_ERROR = ErrorObject(
    error_type="Callback.Timeout", error_message="Callback timed out"
)
CALLBACK_HEARTBEAT_ERROR = ErrorObject(
    error_type="Callback.Heartbeat", error_message="Callback timed out on heartbeat"
)
EXECUTION_TIMEOUT_ERROR = ErrorObject(
    error_type="Execution.TimedOut", error_message="The execution exceeded its ExecutionTimeout"
)


def fire_timers(ex: Execution, now: datetime) -> None:
    """Apply every timer-driven transition of ``ex`` that is due at ``now``."""
    if not ex.running:
        return
    record = ex.record
    if record.timeout_at <= now:
        ex.finish(ExecutionStatus.TIMED_OUT, now, error=EXECUTION_TIMEOUT_ERROR)
        return
    for op in [ex.operations[op_id] for op_id in ex.timed]:
        if op.status is OperationStatus.STARTED and op.type is OperationType.WAIT:
            end = op.wait_details.scheduled_end_timestamp if op.wait_details else None
            if end is not None and end <= now:
                done = _replace(op, status=OperationStatus.SUCCEEDED, end_timestamp=end)
                ex.put(done, external=True)
                duration = (
                    round((end - op.start_timestamp).total_seconds())
                    if op.start_timestamp
                    else None
                )
                ex.emit(
                    EventType.WAIT_SUCCEEDED,
                    now,
                    done,
                    wait_succeeded_details=WaitSucceededDetails(duration=duration),
                )
        elif op.status is OperationStatus.PENDING and op.type is OperationType.STEP:
            details = op.step_details
            due = details.next_attempt_timestamp if details else None
            if details is not None and due is not None and due <= now:
                ready = _replace(
                    op,
                    status=OperationStatus.READY,
                    step_details=_replace(details, next_attempt_timestamp=None),
                )
                ex.put(ready, external=True)
    for op_id, timer in list(record.callbacks.items()):
        if timer.timeout_at is not None and timer.timeout_at <= now:
            ex.complete_callback(
                op_id, OperationStatus.TIMED_OUT, now, error=CALLBACK_TIMEOUT_ERROR
            )
        elif timer.heartbeat_at is not None and timer.heartbeat_at <= now:
            ex.complete_callback(
                op_id, OperationStatus.TIMED_OUT, now, error=CALLBACK_HEARTBEAT_ERROR
            )


def next_timer(ex: Execution, *, include_timeout: bool = True) -> datetime | None:
    """When the next timer-driven transition or delayed invocation of ``ex`` is due.

    ``include_timeout=False`` leaves out the execution timeout, which virtual time does
    not skip to: an execution that only waits for its timeout is stalled.
    """
    if not ex.running:
        return None
    record = ex.record
    due: list[datetime] = [record.timeout_at] if include_timeout else []
    if record.wants_invocation and record.invoke_not_before is not None:
        due.append(record.invoke_not_before)
    for op in (ex.operations[op_id] for op_id in ex.timed):
        if (
            op.status is OperationStatus.STARTED
            and op.type is OperationType.WAIT
            and op.wait_details
            and op.wait_details.scheduled_end_timestamp
        ):
            due.append(op.wait_details.scheduled_end_timestamp)
        elif (
            op.status is OperationStatus.PENDING
            and op.step_details
            and op.step_details.next_attempt_timestamp
        ):
            due.append(op.step_details.next_attempt_timestamp)
    for timer in record.callbacks.values():
        due.extend(t for t in (timer.timeout_at, timer.heartbeat_at) if t is not None)
    return min(due, default=None)
