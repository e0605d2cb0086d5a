"""An execution's operations laid out in time: the rows of the UI's Gantt chart.

Each operation becomes a row under its parent (child contexts, map iterations and
parallel branches nest); a row is made of segments. A step shows one segment per
attempt and, between attempts, the retry delay it waited; a wait shows the time until
its scheduled end; a callback the time it waited for an answer. Invocations (the
handler actually running) come from the ``InvocationCompleted`` events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiodurable.local.history import Event, EventType
from aiodurable.wire import Operation, OperationStatus, OperationType

__all__ = ["Invocation", "Row", "Segment", "Timeline", "build_timeline"]

_ENDS = {
    EventType.STEP_SUCCEEDED: "succeeded",
    EventType.STEP_FAILED: "failed",
}


@dataclass(frozen=True)
class Segment:
    """A stretch of a row: ``kind`` is what the operation was doing (CSS class)."""

    start: datetime
    end: datetime
    kind: str
    label: str


@dataclass
class Row:
    operation: Operation
    depth: int
    segments: list[Segment]
    events: list[Event] = field(default_factory=list)
    has_children: bool = False


@dataclass(frozen=True)
class Invocation:
    start: datetime
    end: datetime
    error: bool


@dataclass
class Timeline:
    start: datetime
    end: datetime
    rows: list[Row]
    invocations: list[Invocation]

    @property
    def span(self) -> timedelta:
        return max(self.end - self.start, timedelta(milliseconds=1))

    def offset(self, when: datetime) -> float:
        """Position of ``when`` as a percentage of the chart's width."""
        share = (when - self.start) / self.span
        return round(min(max(share, 0.0), 1.0) * 100, 3)


def _status_kind(status: OperationStatus) -> str:
    return status.value.lower().replace("_", "-")


def _step_segments(op: Operation, events: list[Event], now: datetime) -> list[Segment]:
    segments: list[Segment] = []
    started: datetime | None = None
    attempt = 0
    retry_from: datetime | None = None
    for event in events:
        if event.event_type is EventType.STEP_STARTED:
            if retry_from is not None:
                segments.append(Segment(retry_from, event.event_timestamp, "retry", "retry delay"))
                retry_from = None
            started = event.event_timestamp
            attempt += 1
        elif event.event_type in _ENDS and started is not None:
            segments.append(
                Segment(
                    started, event.event_timestamp, _ENDS[event.event_type], f"attempt {attempt}"
                )
            )
            started = None
            details = event.step_failed_details
            if details is not None and details.retry_details.next_attempt_delay_seconds:
                retry_from = event.event_timestamp
    if started is not None:
        segments.append(Segment(started, op.end_timestamp or now, "running", f"attempt {attempt}"))
    if retry_from is not None:
        next_at = op.step_details.next_attempt_timestamp if op.step_details else None
        segments.append(Segment(retry_from, next_at or now, "retry", "retry delay"))
    return segments


def _segments(op: Operation, events: list[Event], now: datetime) -> list[Segment]:
    start = op.start_timestamp or now
    end = op.end_timestamp
    kind = _status_kind(op.status)
    if op.type is OperationType.STEP:
        segments = _step_segments(op, events, now)
        if segments:
            return segments
    if op.type is OperationType.WAIT:
        scheduled = op.wait_details.scheduled_end_timestamp if op.wait_details else None
        until = end or max(scheduled or now, now)
        ended_early = end is not None and op.status is not OperationStatus.SUCCEEDED
        return [Segment(start, until, kind if ended_early else "wait", "wait")]
    if op.type is OperationType.CALLBACK and end is None:
        return [Segment(start, now, "waiting", "waiting for an answer")]
    if op.type is OperationType.CONTEXT:
        return [Segment(start, end or now, "context", (op.sub_type or "context").lower())]
    label = "running" if end is None else op.status.value.lower()
    return [Segment(start, end or now, kind if end else "running", label)]


def build_timeline(operations: list[Operation], events: list[Event], *, now: datetime) -> Timeline:
    """Rows in depth-first order (a parent, then its children in creation order)."""
    by_op: dict[str, list[Event]] = {}
    invocations: list[Invocation] = []
    for event in events:
        details = event.invocation_completed_details
        if details is not None:
            invocations.append(
                Invocation(
                    details.start_timestamp, details.end_timestamp, details.error is not None
                )
            )
        elif event.id is not None:
            by_op.setdefault(event.id, []).append(event)

    execution = next((op for op in operations if op.type is OperationType.EXECUTION), None)
    children: dict[str | None, list[Operation]] = {}
    known = {op.id for op in operations}
    for op in operations:
        if op.type is OperationType.EXECUTION:
            continue
        parent = op.parent_id if op.parent_id in known else None
        children.setdefault(parent, []).append(op)

    rows: list[Row] = []

    def visit(parent: str | None, depth: int) -> None:
        for op in children.get(parent, []):
            op_events = by_op.get(op.id, [])
            rows.append(Row(op, depth, _segments(op, op_events, now), op_events, op.id in children))
            visit(op.id, depth + 1)

    visit(None, 0)
    if execution is not None and execution.id in children:
        visit(execution.id, 0)

    starts = [op.start_timestamp for op in operations if op.start_timestamp is not None]
    start = (execution.start_timestamp if execution else None) or min(starts, default=now)
    ends = [s.end for row in rows for s in row.segments] + [i.end for i in invocations]
    end = (execution.end_timestamp if execution else None) or max([now, *ends])
    return Timeline(start, max(end, *ends) if ends else end, rows, invocations)
