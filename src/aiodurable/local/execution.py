"""One execution on the service side: its record, operations and history.

:class:`Execution` is the in-memory form of one execution: the persisted
:class:`~aiodurable.local.records.ExecutionRecord`, the operations by id and the history
events. It stores changed operations (:meth:`Execution.put`), writes the events each
change produces (docs/protocol.md §8) and ends operations the service completes (callbacks,
chained invokes). Updates from the function are applied by :mod:`aiodurable.local.updates`,
timers by :mod:`aiodurable.local.timers`. It does no I/O and never awaits: the backend
calls it, then saves what it changed (:meth:`Execution.take_changes`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec

from aiodurable.local.history import (
    ErrorDetails,
    Event,
    EventError,
    EventPayload,
    EventType,
    ExecutionStartedDetails,
    InvocationCompletedDetails,
    ResultDetails,
    details_field,
)
from aiodurable.local.records import (
    TERMINAL_EXECUTION_STATUSES,
    ExecutionRecord,
    ExecutionStatus,
)
from aiodurable.wire import (
    TERMINAL_STATUSES,
    CallbackDetails,
    ChainedInvokeDetails,
    ErrorObject,
    ExecutionDetails,
    Operation,
    OperationStatus,
    OperationType,
)

__all__ = ["Execution", "ExecutionTrace", "event_error", "event_payload", "is_timed"]

_replace = msgspec.structs.replace

#: The word an end event's type gets for each terminal status ("ChainedInvoke" + "TimedOut").
_END_WORD = {
    "SUCCEEDED": "Succeeded",
    "FAILED": "Failed",
    "TIMED_OUT": "TimedOut",
    "STOPPED": "Stopped",
}


def event_payload(payload: str | None) -> EventPayload:
    """A payload as history events carry it."""
    return EventPayload(truncated=False, payload=payload)


def event_error(error: ErrorObject | None) -> EventError:
    """An error as history events carry it."""
    return EventError(truncated=False, payload=error or ErrorObject())


def is_timed(op: Operation) -> bool:
    """Whether a timer can change ``op`` (a started WAIT, a PENDING STEP)."""
    return (op.status is OperationStatus.STARTED and op.type is OperationType.WAIT) or (
        op.status is OperationStatus.PENDING and op.type is OperationType.STEP
    )


class ExecutionTrace(dict[str, str]):
    """The replay signatures saved for an execution, by operation id, and ``pending``: the
    ones its running invocation made since the last save.

    An invocation writes its new signatures straight into ``pending`` (see
    :class:`aiodurable.runtime.replay_trace.PendingTrace`), before it checkpoints the
    operations they describe; every save of the execution commits them in the same
    transaction. So a checkpoint is never durable without the signatures of the operations
    it records, even if the process is killed right after it.
    """

    __slots__ = ("pending",)

    def __init__(self, saved: dict[str, str] | None = None) -> None:
        super().__init__(saved or {})
        self.pending: dict[str, str] = {}

    def saved(self) -> None:
        """The pending signatures were committed: they are part of the saved trace now."""
        if self.pending:
            self.update(self.pending)
            self.pending.clear()  # in place: the running invocation holds this dict


class Execution:
    """Record, operations and history of one execution, and its service-side endings."""

    def __init__(
        self,
        record: ExecutionRecord,
        operations: list[Operation] | None = None,
        events: list[Event] | None = None,
        trace: dict[str, str] | None = None,
    ) -> None:
        self.record = record
        self.operations: dict[str, Operation] = {op.id: op for op in operations or ()}
        #: Ids of the operations a timer can change, so that timers are found without
        #: scanning every operation.
        self.timed: set[str] = {op.id for op in self.operations.values() if is_timed(op)}
        self.events: list[Event] = list(events or ())
        self._changed_ops: dict[str, Operation] = {}
        self._new_events: list[Event] = []
        #: Replay signatures by operation id, saved with the execution.
        self.trace = ExecutionTrace(trace)

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
        if is_timed(op):
            self.timed.add(op.id)
        else:
            self.timed.discard(op.id)
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
        """Append a history event about ``op`` (or the execution)."""
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

    def emit_end(
        self,
        kind: str,
        status: str,
        now: datetime,
        op: Operation | None,
        result: str | None,
        error: ErrorObject | None,
    ) -> None:
        """The end event of ``kind`` (``Execution``, ``Callback``…) for a terminal status."""
        event_type = EventType(kind + _END_WORD[status])
        details: Any = (
            ResultDetails(event_payload(result))
            if status == "SUCCEEDED"
            else ErrorDetails(event_error(error))
        )
        self.emit(event_type, now, op, **{details_field(event_type): details})

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
            execution_started_details=ExecutionStartedDetails(
                input=event_payload(record.input_payload),
                execution_timeout=record.execution_timeout,
            ),
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
            op = _replace(execution_op, status=OperationStatus(status.value), end_timestamp=now)
            self.operations[op.id] = op
            self._changed_ops[op.id] = op
        self.emit_end("Execution", status.value, now, None, result, error)

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
                error=event_error(error) if error is not None else None,
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
        self.emit_end("ChainedInvoke", status.value, now, op, result, error)
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
        """A callback succeeded, failed or timed out."""
        timer = self.record.callbacks.pop(op_id)
        op = _replace(
            self.operations[op_id],
            status=status,
            end_timestamp=now,
            callback_details=CallbackDetails(
                callback_id=timer.callback_id, result=result, error=error
            ),
        )
        self.put(op, external=True)
        self.emit_end("Callback", status.value, now, op, result, error)

    def heartbeat(self, op_id: str, now: datetime) -> None:
        """Restart a callback's heartbeat timeout."""
        timer = self.record.callbacks[op_id]
        if timer.heartbeat_seconds > 0:
            timer.heartbeat_at = now + timedelta(seconds=timer.heartbeat_seconds)

    # -- questions -------------------------------------------------------------------------
    def has_pending_work(self) -> bool:
        """Whether a ``PENDING`` output is legitimate (docs/protocol.md §1.5)."""
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
