"""What the live view of ``aiodurable run`` knows, computed from operations and history.

Both views read the same things: the execution's operations (a tree through
``ParentId``, children in the order they started, which is the order of their first
event), the counts of each map and parallel, and, from the history, what an operation
does not carry (a callback's deadlines). Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiodurable.local.history import Event, EventType
from aiodurable.wire import Operation, OperationStatus, OperationType
from aiodurable.wire.callback_names import event_user_name

__all__ = [
    "BATCH_SUB_TYPES",
    "Counts",
    "Node",
    "Waiting",
    "callback_deadlines",
    "duration",
    "error_text",
    "event_name",
    "tree",
    "unanswerable_callbacks",
]

BATCH_SUB_TYPES = frozenset({"Map", "Parallel"})
_DONE = frozenset({OperationStatus.SUCCEEDED})
_FAILED = frozenset(
    {
        OperationStatus.FAILED,
        OperationStatus.CANCELLED,
        OperationStatus.TIMED_OUT,
        OperationStatus.STOPPED,
    }
)


@dataclass(eq=False)  # compared by identity: a subtree is never equal to another
class Node:
    """One operation and its children, in the order they started."""

    op: Operation
    children: list[Node] = field(default_factory=list)

    @property
    def is_batch(self) -> bool:
        """A map or a parallel: its children are its items or branches."""
        return self.op.type is OperationType.CONTEXT and self.op.sub_type in BATCH_SUB_TYPES

    @property
    def finished(self) -> bool:
        return self.op.status in _DONE or self.op.status in _FAILED

    @property
    def failed(self) -> bool:
        return self.op.status in _FAILED


def tree(operations: Iterable[Operation]) -> list[Node]:
    """The top-level operations of an execution, each with its subtree.

    ``operations`` come in creation order (as the backend keeps them), so every list of
    children is ordered by the event that started each child.
    """
    nodes: dict[str, Node] = {}
    roots: list[Node] = []
    for op in operations:
        if op.type is OperationType.EXECUTION:
            continue
        node = nodes[op.id] = Node(op)
        parent = nodes.get(op.parent_id) if op.parent_id else None
        (parent.children if parent is not None else roots).append(node)
    return roots


@dataclass(frozen=True)
class Counts:
    """Items (or branches) of a map (or parallel): done, running, failed, total."""

    done: int
    running: int
    failed: int
    total: int

    @classmethod
    def of(cls, node: Node) -> Counts:
        """Counts over the items that have started (a map with ``max_concurrency``
        starts the rest as earlier ones end)."""
        done = sum(1 for child in node.children if child.op.status in _DONE)
        failed = sum(1 for child in node.children if child.failed)
        total = len(node.children)
        return cls(done, total - done - failed, failed, total)

    def __str__(self) -> str:
        return (
            f"done {self.done} · running {self.running} · failed {self.failed} · total {self.total}"
        )


@dataclass(frozen=True)
class Waiting:
    """A callback that is open: its id and the deadlines its start recorded."""

    name: str
    callback_id: str
    timeout_at: datetime | None
    heartbeat_at: datetime | None


def event_name(event: Event) -> str:
    """What to show for an event's operation: the user's name (``manager``, not the
    recorded ``manager create callback id``), else the start of its id."""
    return event_user_name(event.event_type.value, event.name) or (event.id or "")[:12]


def callback_deadlines(events: Iterable[Event]) -> dict[str, Waiting]:
    """Operation id → the callback's id and deadlines, for every callback started."""
    found: dict[str, Waiting] = {}
    for event in events:
        details = event.callback_started_details
        if event.event_type is not EventType.CALLBACK_STARTED or details is None:
            continue
        at = event.event_timestamp
        found[event.id or ""] = Waiting(
            name=event_name(event),
            callback_id=details.callback_id,
            timeout_at=at + timedelta(seconds=details.timeout) if details.timeout else None,
            heartbeat_at=(
                at + timedelta(seconds=details.heartbeat_timeout)
                if details.heartbeat_timeout
                else None
            ),
        )
    return found


def unanswerable_callbacks(
    operations: Iterable[Operation], events: list[Event], *, invoking: bool
) -> list[Waiting]:
    """The callbacks an execution waits for forever when nobody outside can answer.

    Non-empty only when the execution has suspended (its last invocation ended without
    an error and none runs), nothing else is pending (no wait, step retry or chained
    invoke), and the open callbacks have neither a timeout nor a heartbeat timeout.
    """
    if invoking or not events:
        return []
    last = events[-1]
    if last.event_type is not EventType.INVOCATION_COMPLETED or (
        last.invocation_completed_details and last.invocation_completed_details.error
    ):
        return []
    deadlines = callback_deadlines(events)
    open_callbacks: list[Waiting] = []
    for op in operations:
        if op.status in _DONE or op.status in _FAILED:
            continue
        if op.type in (OperationType.EXECUTION, OperationType.CONTEXT):
            continue
        if op.type is not OperationType.CALLBACK:
            return []
        waiting = deadlines.get(op.id)
        if waiting is None or waiting.timeout_at or waiting.heartbeat_at:
            return []
        open_callbacks.append(waiting)
    return open_callbacks


def error_text(op: Operation) -> str:
    """``Type: message`` of the operation's recorded error, or ``""``."""
    error = op.recorded_error
    if error is None:
        return ""
    text = ": ".join(part for part in (error.error_type, error.error_message) if part)
    return text.splitlines()[0] if text else "error"


def duration(seconds: float) -> str:
    """A short human duration: ``0.250s``, ``4m05s``, ``6h00m00s``, ``2d03h00m``."""
    if seconds < 60:
        return f"{seconds:.3f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"
