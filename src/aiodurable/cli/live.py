"""The live view of ``aiodurable run``: a rich tree in a terminal, ordered lines elsewhere.

In a terminal (:class:`TerminalView`) the execution is redrawn in place as a tree: child
contexts, maps and parallels under their parent, in the order they started; each map
and parallel with its counts; a countdown to each wait's end and retry (or, in virtual
time, the virtual time it is due), the last error of a retrying step; a header with the
status, the elapsed time and the virtual time reached. A long map shows its running and
failed items and sums up the rest, so the tree fits a screen.

When stdout is not a terminal (a pipe, a file, CI) :class:`PlainView` prints one line
per history event instead, in event order, indented under its parent context.
"""

from __future__ import annotations

import time
from datetime import datetime
from types import TracebackType
from typing import Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text
from rich.tree import Tree

from aiodurable.cli.progress import (
    BATCH_SUB_TYPES,
    Counts,
    Node,
    Waiting,
    callback_deadlines,
    duration,
    error_text,
    event_name,
    tree,
)
from aiodurable.local.history import Event, EventType
from aiodurable.wire import Operation, OperationStatus, OperationType
from aiodurable.wire.callback_names import display_name

__all__ = ["PlainView", "TerminalView", "View", "make_view"]

#: Children shown under one node before the rest are summed up in one line.
SHOWN_CHILDREN = 6


class View(Protocol):
    """What ``aiodurable run`` drives: refreshed on every change (and every ``tick``)."""

    #: Seconds between redraws when nothing changes (countdowns), or None.
    tick: float | None
    #: Least seconds between two redraws.
    frame: float

    def __enter__(self) -> View: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def refresh(
        self, operations: list[Operation], events: list[Event], now: datetime, status: str
    ) -> None:
        """Show the execution as it is now; ``status`` is the execution's."""

    def note(self, text: str) -> None:
        """A line that stays (a hint, a warning), printed above the live part."""

    def close(self) -> None:
        """Stop redrawing (before the process exits abruptly)."""


def make_view(out: TextIO, *, title: str, virtual: bool, endpoint: str | None) -> View:
    """A :class:`TerminalView` when ``out`` is a terminal, else a :class:`PlainView`."""
    if out.isatty():
        return TerminalView(out, title=title, virtual=virtual, endpoint=endpoint)
    return PlainView(out)


class TerminalView:
    """The execution as a tree, redrawn in place (rich ``Live``, no refresh thread)."""

    tick: float | None = 0.25
    frame = 0.05

    def __init__(self, out: TextIO, *, title: str, virtual: bool, endpoint: str | None) -> None:
        self.console = Console(file=out, highlight=False)
        self.title = title
        self.virtual = virtual
        self.endpoint = endpoint
        self._live = Live(console=self.console, auto_refresh=False, redirect_stderr=False)
        self._started = time.monotonic()
        self._waiting: dict[str, Waiting] = {}
        self._start: datetime | None = None
        self._now: datetime | None = None

    def __enter__(self) -> TerminalView:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._live.stop()

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, soft_wrap=True)

    def refresh(
        self, operations: list[Operation], events: list[Event], now: datetime, status: str
    ) -> None:
        self._live.update(self.render(operations, events, now, status), refresh=True)

    # -- rendering ---------------------------------------------------------------------------
    def render(
        self, operations: list[Operation], events: list[Event], now: datetime, status: str
    ) -> Tree:
        """The whole view: a header line and the execution's tree."""
        self._waiting = callback_deadlines(events)
        self._start = events[0].event_timestamp if events else now
        self._now = now
        header = Text.assemble(
            (self.title, "bold"),
            "  ",
            _status_text(status),
            f"  elapsed {duration(time.monotonic() - self._started)}",
        )
        if self.virtual:
            header.append(f"  virtual time +{duration(self._since_start(now))}", "cyan")
        root = Tree(header, guide_style="dim")
        self._add_children(root, tree(operations))
        return root

    def _add(self, parent: Tree, node: Node) -> None:
        branch = parent.add(self._label(node))
        self._add_children(branch, node.children)

    def _add_children(self, parent: Tree, children: list[Node]) -> None:
        shown = _shown(children)
        for child in shown:
            self._add(parent, child)
        hidden = [child for child in children if child not in shown]
        if hidden:
            failed = sum(1 for child in hidden if child.failed)
            done = sum(1 for child in hidden if child.finished) - failed
            more = "more" if shown else "items"
            parent.add(Text(f"… {len(hidden)} {more}: {done} done, {failed} failed", "dim"))

    def _label(self, node: Node) -> Text:
        op = node.op
        name = display_name(op)
        text = Text.assemble((f"{_kind(op)} ", "dim"), (name, "bold"), "  ")
        text.append_text(_status_text(_status_word(op)))
        if node.is_batch:
            text.append(f"  {Counts.of(node)}")
        detail = self._detail(op)
        if detail:
            text.append("  ")
            text.append_text(detail)
        return text

    def _detail(self, op: Operation) -> Text:
        status = op.status
        if op.type is OperationType.STEP and op.step_details is not None:
            attempt = op.step_details.attempt or 0
            if status is OperationStatus.PENDING:
                due = op.step_details.next_attempt_timestamp
                text = Text(f"attempt {attempt + 1} {self._when(due)}")
                error = error_text(op)
                if error:
                    text.append(f"  last error {error}", "red")
                return text
            if status is OperationStatus.FAILED:
                return Text(f"attempt {attempt}  {error_text(op)}", "red")
            if status is OperationStatus.SUCCEEDED and attempt > 1:
                return Text(f"attempt {attempt}  {self._took(op)}", "dim")
        if op.type is OperationType.WAIT and status is OperationStatus.STARTED:
            end = op.wait_details.scheduled_end_timestamp if op.wait_details else None
            return Text(f"ends {self._when(end)}", "yellow")
        if op.type is OperationType.CALLBACK and status is OperationStatus.STARTED:
            return self._callback(op)
        error = error_text(op) if Node(op).failed else ""
        if error:
            return Text(error, "red")
        return Text(self._took(op), "dim")

    def _callback(self, op: Operation) -> Text:
        waiting = self._waiting.get(op.id)
        if waiting is None:
            return Text("waiting for an answer", "yellow")
        deadlines = [t for t in (waiting.timeout_at, waiting.heartbeat_at) if t is not None]
        due = f"times out {self._when(min(deadlines))}" if deadlines else "no timeout"
        text = Text(f"waiting for an answer, {due}", "yellow")
        if self.endpoint is not None:
            text.append(
                f"\nanswer: aiodurable callback succeed {waiting.callback_id} '<json>' "
                f"--endpoint-url {self.endpoint}"
            )
        return text

    def _when(self, due: datetime | None) -> str:
        if due is None or self._now is None:
            return "soon"
        if self.virtual:
            return f"at virtual +{duration(self._since_start(due))}"
        return f"in {duration(max(0.0, (due - self._now).total_seconds()))}"

    def _took(self, op: Operation) -> str:
        if op.start_timestamp is None:
            return ""
        end = op.end_timestamp or self._now or op.start_timestamp
        return duration(max(0.0, (end - op.start_timestamp).total_seconds()))

    def _since_start(self, when: datetime) -> float:
        start = self._start or when
        return max(0.0, (when - start).total_seconds())


def _shown(children: list[Node]) -> list[Node]:
    """The children worth a line of their own: all of a few, else the running and failed."""
    if len(children) <= SHOWN_CHILDREN:
        return children
    return [child for child in children if not child.finished or child.failed][:SHOWN_CHILDREN]


def _kind(op: Operation) -> str:
    if op.type is OperationType.CONTEXT:
        return {
            "Map": "map",
            "Parallel": "parallel",
            "MapIteration": "item",
            "ParallelBranch": "branch",
        }.get(op.sub_type or "", "context")
    return {
        OperationType.STEP: "step",
        OperationType.WAIT: "wait",
        OperationType.CALLBACK: "callback",
        OperationType.CHAINED_INVOKE: "invoke",
    }.get(op.type, op.type.value.lower())


def _status_word(op: Operation) -> str:
    if op.type is OperationType.STEP and op.status is OperationStatus.PENDING:
        return "RETRYING"
    if op.type in (OperationType.WAIT, OperationType.CALLBACK) and (
        op.status is OperationStatus.STARTED
    ):
        return "WAITING"
    return "RUNNING" if op.status is OperationStatus.STARTED else op.status.value


_STYLES = {
    "SUCCEEDED": "green",
    "RUNNING": "blue",
    "WAITING": "yellow",
    "RETRYING": "magenta",
    "READY": "magenta",
    "PAUSING": "yellow",
    "PAUSED": "yellow",
}


def _status_text(word: str) -> Text:
    return Text(word, _STYLES.get(word, "red"))


class PlainView:
    """One line per history event, in event order, indented under its parent context."""

    tick: float | None = None
    frame = 0.0

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._seen = 0
        self._start: datetime | None = None
        self._depth: dict[str, int] = {}
        self._names: dict[str, str] = {}
        #: map / parallel id → [done, failed, total] over its items.
        self._batches: dict[str, list[int]] = {}

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing is redrawn: there is nothing to stop."""

    def note(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def refresh(
        self, operations: list[Operation], events: list[Event], now: datetime, status: str
    ) -> None:
        fresh, self._seen = events[self._seen :], len(events)
        lines = [line for event in fresh if (line := self.line(event))]
        if lines:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()

    def line(self, event: Event) -> str:
        """The event's line, or ``""`` for an invocation that ended without an error."""
        if self._start is None:
            self._start = event.event_timestamp
        kind = event.event_type
        details = event.invocation_completed_details
        if kind is EventType.INVOCATION_COMPLETED and (details is None or details.error is None):
            return ""
        depth = self._depth.get(event.parent_id or "", -1) + 1
        if event.id and kind is EventType.CONTEXT_STARTED:
            self._depth[event.id] = depth
            if event.sub_type in BATCH_SUB_TYPES:
                self._batches[event.id] = [0, 0, 0]
        offset = "+" + duration((event.event_timestamp - self._start).total_seconds())
        name = event_name(event)
        parent = self._names.get(event.parent_id or "")
        if kind is EventType.CONTEXT_STARTED:
            self._names[event.id or ""] = name
        elif parent is not None and parent != name and not kind.value.startswith("Context"):
            name = f"{parent}/{name}"  # concurrent branches interleave: say whose it is
        text = f"{offset:>10}  {'  ' * depth}{kind.value:<18} {name}  {self._detail(event)}"
        return text.rstrip()

    def _detail(self, event: Event) -> str:
        kind = event.event_type
        batch = self._batches.get(event.parent_id or "")
        if batch is not None and kind is EventType.CONTEXT_STARTED:
            batch[2] += 1
        elif batch is not None and kind is EventType.CONTEXT_SUCCEEDED:
            batch[0] += 1
        elif batch is not None and kind is EventType.CONTEXT_FAILED:
            batch[1] += 1
        counts = self._batches.get(event.id or "")
        if counts is not None and kind in (EventType.CONTEXT_SUCCEEDED, EventType.CONTEXT_FAILED):
            done, failed, total = counts
            return f"done {done} · failed {failed} · total {total}"
        if kind is EventType.CONTEXT_STARTED and event.sub_type:
            return f"({event.sub_type})"
        if event.step_failed_details is not None:
            retry = event.step_failed_details.retry_details
            error = event.step_failed_details.error.payload
            message = _error(error.error_type, error.error_message) if error else "error"
            if retry.next_attempt_delay_seconds is not None:
                return (
                    f"attempt {retry.current_attempt}: {message}; "
                    f"retry in {duration(retry.next_attempt_delay_seconds)}"
                )
            return f"attempt {retry.current_attempt}: {message}"
        if event.step_succeeded_details is not None:
            return f"attempt {event.step_succeeded_details.retry_details.current_attempt}"
        if event.wait_started_details is not None:
            return duration(event.wait_started_details.duration)
        if event.callback_started_details is not None:
            started = event.callback_started_details
            timeout = f", times out after {duration(started.timeout)}" if started.timeout else ""
            return f"callback id {started.callback_id}{timeout}"
        reason = getattr(event.details, "reason", None)  # ExecutionPaused / ExecutionResumed
        if reason is not None and reason.payload:
            return f"reason: {reason.payload}"
        error_details = getattr(event.details, "error", None)
        payload = getattr(error_details, "payload", None)
        if payload is not None:
            return _error(payload.error_type, payload.error_message)
        return ""


def _error(error_type: str | None, message: str | None) -> str:
    text = ": ".join(part for part in (error_type, message) if part) or "error"
    return text.splitlines()[0]
