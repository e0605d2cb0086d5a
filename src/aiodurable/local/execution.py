"""One execution on the service side: operations, history and state transitions.

:class:`ExecutionState` applies accepted updates and service-side transitions
(PROTOCOL §2.6) and writes the history events each produces (PROTOCOL §8). It does no
I/O and never awaits: the backend calls it, then saves what it changed (``take_changes``).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import msgspec

from aiodurable.local.history import (
    CallbackStartedDetails,
    ChainedInvokeStartedDetails,
    ErrorDetails,
    Event,
    EventError,
    EventPayload,
    EventType,
    ExecutionStartedDetails,
    InvocationCompletedDetails,
    NoDetails,
    ResultDetails,
    RetryDetails,
    StepFailedDetails,
    StepSucceededDetails,
    WaitCancelledDetails,
    WaitStartedDetails,
    WaitSucceededDetails,
)
from aiodurable.local.records import (
    TERMINAL_EXECUTION_STATUSES,
    CallbackTimer,
    ExecutionRecord,
    ExecutionStatus,
)
from aiodurable.wire import (
    TERMINAL_STATUSES,
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    ErrorObject,
    ExecutionDetails,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    WaitDetails,
)

__all__ = [
    "CALLBACK_HEARTBEAT_ERROR",
    "CALLBACK_TIMEOUT_ERROR",
    "EXECUTION_TIMEOUT_ERROR",
    "ExecutionState",
    "new_callback_id",
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

_EXECUTION_END_EVENT = {
    ExecutionStatus.SUCCEEDED: EventType.EXECUTION_SUCCEEDED,
    ExecutionStatus.FAILED: EventType.EXECUTION_FAILED,
    ExecutionStatus.TIMED_OUT: EventType.EXECUTION_TIMED_OUT,
    ExecutionStatus.STOPPED: EventType.EXECUTION_STOPPED,
}
_INVOKE_END_EVENT = {
    OperationStatus.SUCCEEDED: EventType.CHAINED_INVOKE_SUCCEEDED,
    OperationStatus.FAILED: EventType.CHAINED_INVOKE_FAILED,
    OperationStatus.TIMED_OUT: EventType.CHAINED_INVOKE_TIMED_OUT,
    OperationStatus.STOPPED: EventType.CHAINED_INVOKE_STOPPED,
}
_CALLBACK_END_EVENT = {
    OperationStatus.SUCCEEDED: EventType.CALLBACK_SUCCEEDED,
    OperationStatus.FAILED: EventType.CALLBACK_FAILED,
    OperationStatus.TIMED_OUT: EventType.CALLBACK_TIMED_OUT,
}


def _result(payload: str | None) -> EventPayload:
    return EventPayload(truncated=False, payload=payload)


def _error(error: ErrorObject | None) -> EventError:
    return EventError(truncated=False, payload=error or ErrorObject())


def new_callback_id() -> str:
    """An unguessable callback id: 192 random bits, in the base64 alphabet the API allows."""
    return secrets.token_hex(24)


class ExecutionState:
    """Operations and history of one execution, and the transitions between states."""

    def __init__(
        self,
        record: ExecutionRecord,
        operations: list[Operation] | None = None,
        events: list[Event] | None = None,
    ) -> None:
        self.record = record
        self.operations: dict[str, Operation] = {op.id: op for op in operations or ()}
        #: Ids of the operations a timer can change (a started WAIT, a PENDING STEP), so
        #: that timers are found without scanning every operation.
        self._timed: set[str] = {op.id for op in self.operations.values() if _is_timed(op)}
        self.events: list[Event] = list(events or ())
        self._changed_ops: dict[str, Operation] = {}
        self._new_events: list[Event] = []

    # -- bookkeeping ---------------------------------------------------------------------
    @property
    def arn(self) -> str:
        return self.record.arn

    @property
    def execution_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def running(self) -> bool:
        return self.record.status is ExecutionStatus.RUNNING

    def take_changes(self) -> tuple[list[Operation], list[Event]]:
        """What changed since the last call, for the store."""
        ops, events = list(self._changed_ops.values()), self._new_events
        self._changed_ops, self._new_events = {}, []
        return ops, events

    def put(self, op: Operation, *, external: bool) -> None:
        """Store ``op``; ``external`` changes (timers, callbacks…) also wake the function."""
        self.operations[op.id] = op
        if _is_timed(op):
            self._timed.add(op.id)
        else:
            self._timed.discard(op.id)
        self._changed_ops[op.id] = op
        record = self.record
        if op.id not in record.delta_ids:
            record.delta_ids.append(op.id)
        if external and op.id not in record.updated_ids:
            record.updated_ids.append(op.id)
            record.wants_invocation = True

    def emit(
        self, event_type: EventType, when: datetime, op: Operation | None = None, /, **details: Any
    ) -> Event:
        record = self.record
        event = Event(
            event_type=event_type,
            event_id=record.next_event_id,
            event_timestamp=when,
            sub_type=op.sub_type if op else None,
            id=op.id if op else None,
            name=op.name if op else None,
            parent_id=op.parent_id if op else None,
            **details,
        )
        record.next_event_id += 1
        self.events.append(event)
        self._new_events.append(event)
        return event

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, now: datetime) -> None:
        """Create the EXECUTION operation and the ``ExecutionStarted`` event."""
        record = self.record
        op = Operation(
            id=self.execution_id,
            type=OperationType.EXECUTION,
            status=OperationStatus.STARTED,
            start_timestamp=now,
            name=record.name,
            execution_details=ExecutionDetails(input_payload=record.input_payload),
        )
        self.operations[op.id] = op
        self._changed_ops[op.id] = op
        self.emit(
            EventType.EXECUTION_STARTED,
            now,
            None,
            execution_started_details=_execution_started(record),
        )

    def finish(
        self,
        status: ExecutionStatus,
        now: datetime,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> None:
        """End the execution with its terminal event; no checkpoint is accepted after."""
        record = self.record
        if record.status in TERMINAL_EXECUTION_STATUSES:
            return
        record.status = status
        record.end_timestamp = now
        record.result = result
        record.error = error
        record.token = None
        record.wants_invocation = False
        record.callbacks.clear()
        execution_op = self.operations.get(self.execution_id)
        if execution_op is not None:
            terminal = {
                ExecutionStatus.SUCCEEDED: OperationStatus.SUCCEEDED,
                ExecutionStatus.FAILED: OperationStatus.FAILED,
                ExecutionStatus.TIMED_OUT: OperationStatus.TIMED_OUT,
                ExecutionStatus.STOPPED: OperationStatus.STOPPED,
            }[status]
            op = _replace(execution_op, status=terminal, end_timestamp=now)
            self.operations[op.id] = op
            self._changed_ops[op.id] = op
        event_type = _EXECUTION_END_EVENT[status]
        if status is ExecutionStatus.SUCCEEDED:
            self.emit(event_type, now, execution_succeeded_details=ResultDetails(_result(result)))
        else:
            field = {
                ExecutionStatus.FAILED: "execution_failed_details",
                ExecutionStatus.TIMED_OUT: "execution_timed_out_details",
                ExecutionStatus.STOPPED: "execution_stopped_details",
            }[status]
            self.emit(event_type, now, **{field: ErrorDetails(_error(error))})

    def invocation_completed(
        self, started: datetime, now: datetime, request_id: str, error: ErrorObject | None
    ) -> None:
        self.emit(
            EventType.INVOCATION_COMPLETED,
            now,
            invocation_completed_details=InvocationCompletedDetails(
                start_timestamp=started,
                end_timestamp=now,
                request_id=request_id,
                error=_error(error) if error is not None else None,
            ),
        )

    # -- updates from the function -------------------------------------------------------
    def apply(self, u: OperationUpdate, now: datetime) -> None:
        """Apply one validated update (not of type EXECUTION)."""
        old = self.operations.get(u.id)
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
            OperationType.STEP: self._apply_step,
            OperationType.WAIT: self._apply_wait,
            OperationType.CONTEXT: self._apply_context,
            OperationType.CALLBACK: self._apply_callback,
            OperationType.CHAINED_INVOKE: self._apply_invoke,
        }[u.type]
        handler(base, u, now)

    def _apply_step(self, base: Operation, u: OperationUpdate, now: datetime) -> None:
        details = base.step_details or StepDetails(attempt=0)
        attempt = details.attempt or 0
        action = u.action
        if action is OperationAction.START:
            op = _replace(
                base,
                status=OperationStatus.STARTED,
                step_details=_replace(details, next_attempt_timestamp=None),
            )
            self.put(op, external=False)
            self.emit(EventType.STEP_STARTED, now, op, step_started_details=NoDetails())
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
        self.put(op, external=False)
        if u.error is None and action is not OperationAction.FAIL:
            self.emit(
                EventType.STEP_SUCCEEDED,
                now,
                op,
                step_succeeded_details=StepSucceededDetails(_result(u.payload), retry),
            )
        else:
            self.emit(
                EventType.STEP_FAILED,
                now,
                op,
                step_failed_details=StepFailedDetails(_error(u.error), retry),
            )

    def _apply_wait(self, base: Operation, u: OperationUpdate, now: datetime) -> None:
        if u.action is OperationAction.START:
            assert u.wait_options is not None
            seconds = u.wait_options.wait_seconds
            end = now + timedelta(seconds=seconds)
            op = _replace(base, wait_details=WaitDetails(scheduled_end_timestamp=end))
            self.put(op, external=False)
            self.emit(
                EventType.WAIT_STARTED,
                now,
                op,
                wait_started_details=WaitStartedDetails(
                    duration=seconds, scheduled_end_timestamp=end
                ),
            )
            return
        op = _replace(base, status=OperationStatus.CANCELLED, end_timestamp=now)
        self.put(op, external=False)
        self.emit(
            EventType.WAIT_CANCELLED,
            now,
            op,
            wait_cancelled_details=WaitCancelledDetails(
                error=_error(u.error) if u.error is not None else None
            ),
        )

    def _apply_context(self, base: Operation, u: OperationUpdate, now: datetime) -> None:
        if u.action is OperationAction.START:
            self.put(base, external=False)
            self.emit(EventType.CONTEXT_STARTED, now, base, context_started_details=NoDetails())
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
        self.put(op, external=False)
        if succeeded:
            self.emit(
                EventType.CONTEXT_SUCCEEDED,
                now,
                op,
                context_succeeded_details=ResultDetails(_result(u.payload)),
            )
        else:
            self.emit(
                EventType.CONTEXT_FAILED,
                now,
                op,
                context_failed_details=ErrorDetails(_error(u.error)),
            )

    def _apply_callback(self, base: Operation, u: OperationUpdate, now: datetime) -> None:
        options = u.callback_options
        timeout = options.timeout_seconds if options else 0
        heartbeat = options.heartbeat_timeout_seconds if options else 0
        callback_id = new_callback_id()
        op = _replace(base, callback_details=CallbackDetails(callback_id=callback_id))
        self.record.callbacks[op.id] = CallbackTimer(
            callback_id=callback_id,
            timeout_at=now + timedelta(seconds=timeout) if timeout > 0 else None,
            heartbeat_seconds=heartbeat,
            heartbeat_at=now + timedelta(seconds=heartbeat) if heartbeat > 0 else None,
        )
        self.put(op, external=False)
        self.emit(
            EventType.CALLBACK_STARTED,
            now,
            op,
            callback_started_details=CallbackStartedDetails(
                callback_id=callback_id,
                timeout=timeout or None,
                heartbeat_timeout=heartbeat or None,
            ),
        )

    def _apply_invoke(self, base: Operation, u: OperationUpdate, now: datetime) -> None:
        # The backend resolves the target first and fills in ``record.invokes``.
        assert u.chained_invoke_options is not None
        link = self.record.invokes.get(u.id)
        op = _replace(base, chained_invoke_details=ChainedInvokeDetails())
        self.put(op, external=False)
        options = u.chained_invoke_options
        self.emit(
            EventType.CHAINED_INVOKE_STARTED,
            now,
            op,
            chained_invoke_started_details=ChainedInvokeStartedDetails(
                function_name=options.function_name,
                tenant_id=options.tenant_id,
                input=_result(u.payload),
                executed_version="$LATEST",
                durable_execution_arn=link.child_arn if link else None,
            ),
        )

    # -- service-side transitions --------------------------------------------------------
    def complete_invoke(
        self,
        op_id: str,
        status: OperationStatus,
        now: datetime,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
        external: bool = True,
    ) -> bool:
        """A chained invoke's target finished; ``False`` if nothing waits for it."""
        self.record.invokes.pop(op_id, None)
        op = self.operations.get(op_id)
        if op is None or op.status is not OperationStatus.STARTED or not self.running:
            return False
        op = _replace(
            op,
            status=status,
            end_timestamp=now,
            chained_invoke_details=ChainedInvokeDetails(result=result, error=error),
        )
        self.put(op, external=external)
        event_type = _INVOKE_END_EVENT[status]
        if status is OperationStatus.SUCCEEDED:
            self.emit(
                event_type, now, op, chained_invoke_succeeded_details=ResultDetails(_result(result))
            )
        else:
            field = {
                OperationStatus.FAILED: "chained_invoke_failed_details",
                OperationStatus.TIMED_OUT: "chained_invoke_timed_out_details",
                OperationStatus.STOPPED: "chained_invoke_stopped_details",
            }[status]
            self.emit(event_type, now, op, **{field: ErrorDetails(_error(error))})
        return True

    def complete_callback(
        self,
        op_id: str,
        status: OperationStatus,
        now: datetime,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> None:
        timer = self.record.callbacks.pop(op_id)
        op = self.operations[op_id]
        op = _replace(
            op,
            status=status,
            end_timestamp=now,
            callback_details=CallbackDetails(
                callback_id=timer.callback_id, result=result, error=error
            ),
        )
        self.put(op, external=True)
        event_type = _CALLBACK_END_EVENT[status]
        if status is OperationStatus.SUCCEEDED:
            self.emit(
                event_type, now, op, callback_succeeded_details=ResultDetails(_result(result))
            )
        elif status is OperationStatus.FAILED:
            self.emit(event_type, now, op, callback_failed_details=ErrorDetails(_error(error)))
        else:
            self.emit(event_type, now, op, callback_timed_out_details=ErrorDetails(_error(error)))

    def heartbeat(self, op_id: str, now: datetime) -> None:
        timer = self.record.callbacks[op_id]
        if timer.heartbeat_seconds > 0:
            timer.heartbeat_at = now + timedelta(seconds=timer.heartbeat_seconds)

    def fire_timers(self, now: datetime) -> None:
        """Apply every timer-driven transition that is due (PROTOCOL §2.6)."""
        if not self.running:
            return
        record = self.record
        if record.timeout_at <= now:
            self.finish(ExecutionStatus.TIMED_OUT, now, error=EXECUTION_TIMEOUT_ERROR)
            return
        for op in [self.operations[op_id] for op_id in self._timed]:
            if op.status is OperationStatus.STARTED and op.type is OperationType.WAIT:
                end = op.wait_details.scheduled_end_timestamp if op.wait_details else None
                if end is not None and end <= now:
                    done = _replace(op, status=OperationStatus.SUCCEEDED, end_timestamp=end)
                    self.put(done, external=True)
                    duration = (
                        round((end - op.start_timestamp).total_seconds())
                        if op.start_timestamp
                        else None
                    )
                    self.emit(
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
                    self.put(ready, external=True)
        for op_id, timer in list(record.callbacks.items()):
            if timer.timeout_at is not None and timer.timeout_at <= now:
                self.complete_callback(
                    op_id, OperationStatus.TIMED_OUT, now, error=CALLBACK_TIMEOUT_ERROR
                )
            elif timer.heartbeat_at is not None and timer.heartbeat_at <= now:
                self.complete_callback(
                    op_id, OperationStatus.TIMED_OUT, now, error=CALLBACK_HEARTBEAT_ERROR
                )

    def next_timer(self, *, include_timeout: bool = True) -> datetime | None:
        """When the next timer-driven transition or delayed invocation is due.

        ``include_timeout=False`` leaves out the execution timeout, which virtual time
        does not skip to: an execution that only waits for its timeout is stalled.
        """
        if not self.running:
            return None
        record = self.record
        due: list[datetime] = [record.timeout_at] if include_timeout else []
        if record.wants_invocation and record.invoke_not_before is not None:
            due.append(record.invoke_not_before)
        for op in (self.operations[op_id] for op_id in self._timed):
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

    def has_pending_work(self) -> bool:
        """Whether a ``PENDING`` output is legitimate (PROTOCOL §1.5)."""
        for op in self.operations.values():
            if op.type is OperationType.STEP and op.status in (
                OperationStatus.PENDING,
                OperationStatus.READY,
            ):
                return True
            if (
                op.type
                in (OperationType.WAIT, OperationType.CALLBACK, OperationType.CHAINED_INVOKE)
                and op.status is OperationStatus.STARTED
            ):
                return True
        return False

    def waiting_on(self) -> list[Operation]:
        """Operations that only something outside the function can complete."""
        return [
            op
            for op in self.operations.values()
            if op.type in (OperationType.CALLBACK, OperationType.CHAINED_INVOKE)
            and op.status not in TERMINAL_STATUSES
        ]


def _execution_started(record: ExecutionRecord) -> ExecutionStartedDetails:
    return ExecutionStartedDetails(
        input=_result(record.input_payload), execution_timeout=record.execution_timeout
    )


def _is_timed(op: Operation) -> bool:
    return (op.status is OperationStatus.STARTED and op.type is OperationType.WAIT) or (
        op.status is OperationStatus.PENDING and op.type is OperationType.STEP
    )
