"""State of one invocation: the operations, replay identity checks and suspension.

Suspension (docs/protocol.md §5.10) is tracked by counting the workflow's *running* tasks. A task
that cannot progress in this invocation (a wait that has not elapsed, a callback without
result, a pending retry …) parks; a parked task may be woken in-process at a resume time.
When no task is running the termination event is set, the invocation stops the workflow
and returns PENDING.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from aiodurable.errors import NonDeterministicError
from aiodurable.plugins.dispatch import NO_PLUGINS, InvocationHooks
from aiodurable.runtime.checkpointer import Checkpointer
from aiodurable.runtime.replay_trace import ReplayTrace
from aiodurable.wire import Operation, OperationType

__all__ = ["Execution"]


class Execution:
    """Everything one invocation knows about its execution."""

    def __init__(
        self,
        execution_arn: str,
        operations: dict[str, Operation],
        hooks: InvocationHooks | None = None,
        trace: ReplayTrace | None = None,
    ) -> None:
        self.arn = execution_arn
        self.operations = operations
        #: The plugin hooks of this invocation (``hooks.enabled`` is false without plugins).
        self.hooks = hooks if hooks is not None else NO_PLUGINS.invocation(execution_arn, {})
        #: Signatures of earlier calls, where the service keeps them (local backend only).
        self.trace = trace
        #: The operations recorded before this invocation, by parent id, and those of them
        #: the code has reached again (see ``reached``); with a trace, how many recorded
        #: operations share each (parent id, name).
        self.recorded_children: dict[str | None, list[str]] = {}
        self.reached_children: dict[str | None, int] = {}
        self.reached_ids: set[str] = set()
        self.recorded_names: dict[tuple[str | None, str | None], int] = {}
        children, names = self.recorded_children, self.recorded_names
        for op in operations.values():
            if op.type is not OperationType.EXECUTION:
                parent = op.parent_id or None
                if parent in children:
                    children[parent].append(op.id)
                else:
                    children[parent] = [op.id]
                if trace is not None:
                    key = (parent, op.name or None)
                    names[key] = names.get(key, 0) + 1
        self.replaying = bool(children)
        self.terminated = asyncio.Event()
        #: An error that fails the execution whatever user code does with it.
        self.fatal: BaseException | None = None
        self._running = 1  # the root workflow task
        self._checkpointer: Checkpointer | None = None
        #: Parked tasks to wake when the service reports a change of an operation.
        self._watchers: dict[str, list[asyncio.Future[None]]] = {}
        #: Called, innermost first, when every task is parked, before the invocation
        #: suspends: map/parallel coordinators count the branches that completed meanwhile.
        self._settlers: list[Callable[[], None]] = []

    # -- wiring ------------------------------------------------------------------------
    @property
    def checkpointer(self) -> Checkpointer:
        assert self._checkpointer is not None, "the checkpointer starts with the invocation"
        return self._checkpointer

    def attach(self, checkpointer: Checkpointer) -> None:
        self._checkpointer = checkpointer

    def merge(self, operations: Iterable[Operation]) -> None:
        """Apply a delta of operations from the service (replace by id)."""
        ops = self.operations
        watchers = self._watchers
        hooks = self.hooks
        delta = operations if isinstance(operations, (list, tuple)) else list(operations)
        previous = {op.id: ops[op.id] for op in delta if op.id in ops} if hooks.enabled else {}
        for op in delta:
            ops[op.id] = op
            if watchers and op.id in watchers:
                for future in watchers.pop(op.id):
                    self.wake(future)
        if hooks.enabled:
            hooks.merged(delta, previous)

    def fail(self, error: BaseException) -> None:
        """Record an execution-level failure and end the invocation."""
        if self.fatal is None:
            self.fatal = error
        self.terminated.set()

    # -- identity ----------------------------------------------------------------------
    def checkpoint_for(
        self,
        op_id: str,
        type_: OperationType,
        sub_type: str | None,
        name: str | None,
        parent_id: str | None,
    ) -> Operation | None:
        """The stored operation at ``op_id``, checked against what the code does now."""
        op = self.operations.get(op_id)
        if op is None:
            return None
        mismatches: list[str] = []
        if op.type is not type_:
            mismatches.append(f"type {op.type.value} != {type_.value}")
        if (op.sub_type or None) != (sub_type or None):
            mismatches.append(f"sub-type {op.sub_type!r} != {sub_type!r}")
        if (op.name or None) != (name or None):
            mismatches.append(f"name {op.name!r} != {name!r}")
        if (op.parent_id or None) != (parent_id or None):
            mismatches.append(f"parent {op.parent_id!r} != {parent_id!r}")
        if mismatches:
            self.nondeterminism(
                f"operation {op_id} was recorded as {_describe(op)} but the code now runs "
                f"{type_.value} {sub_type or ''} named {name!r} ({'; '.join(mismatches)}). "
                "Workflow code must call the same operations in the same order on every "
                "replay; deploy changes as a new function version."
            )
        if self.hooks.enabled:
            self.hooks.visited(op)  # replay reached a recorded operation
        return op

    def reached(self, op_id: str, parent_id: str | None) -> None:
        """The code has taken id ``op_id`` (under ``parent_id``): note it if recorded."""
        if op_id in self.operations:  # ids are taken before their operation is created
            self.reached_ids.add(op_id)
            self.reached_children[parent_id] = self.reached_children.get(parent_id, 0) + 1

    def unreached(self, parent_id: str | None) -> list[str]:
        """Recorded operations under ``parent_id`` that the code has not reached (yet)."""
        recorded = self.recorded_children.get(parent_id)
        if not recorded or self.reached_children.get(parent_id, 0) >= len(recorded):
            return []
        return [op_id for op_id in recorded if op_id not in self.reached_ids]

    def nondeterminism(self, message: str) -> None:
        error = NonDeterministicError(message)
        self.fail(error)
        raise error

    # -- suspension --------------------------------------------------------------------
    def task_started(self) -> None:
        self._running += 1

    def task_finished(self) -> None:
        self._running -= 1
        self._check_idle()

    async def park(
        self,
        resume_at: datetime | float | None = None,
        wake: asyncio.Future[None] | None = None,
        watch: str | None = None,
    ) -> None:
        """Suspend this task until ``resume_at`` (epoch seconds or datetime), until
        ``wake`` is resolved through :meth:`wake`, or until a checkpoint response reports
        a change of operation ``watch``.

        With none of them the task stays parked until the invocation ends.
        """
        loop = asyncio.get_running_loop()
        future = wake if wake is not None else loop.create_future()
        if watch is not None:
            self._watchers.setdefault(watch, []).append(future)
        timer: asyncio.TimerHandle | None = None
        if resume_at is not None:
            when = resume_at.timestamp() if isinstance(resume_at, datetime) else resume_at
            delay = max(0.0, when - time.time())
            timer = loop.call_later(delay, self.wake, future)
        self._running -= 1
        self._check_idle()
        try:
            await future
        except asyncio.CancelledError:
            if not future.done() or future.cancelled():
                self._running += 1  # the task unwinds as a running task
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def wake(self, future: asyncio.Future[None]) -> None:
        """Resume a parked task; counted as running from this moment."""
        if not future.done():
            self._running += 1
            future.set_result(None)

    def add_settler(self, settle: Callable[[], None]) -> None:
        """Call ``settle()`` whenever every task is parked, until removed.

        A settler may start or wake tasks; the invocation suspends only when none did.
        Deciding at these moments — never as events arrive — makes decisions independent
        of task timing: the tasks that can run have all run.
        """
        self._settlers.append(settle)

    def remove_settler(self, settle: Callable[[], None]) -> None:
        if settle in self._settlers:
            self._settlers.remove(settle)

    def _check_idle(self) -> None:
        if self._running > 0 or self.terminated.is_set():
            return  # still busy, or already ending: nothing may start now
        for settle in reversed(self._settlers):
            settle()
            if self._running > 0:
                return
        if self._running <= 0:
            self.terminated.set()


def _describe(op: Operation) -> str:
    parts = [op.type.value]
    if op.sub_type:
        parts.append(op.sub_type)
    if op.name:
        parts.append(f"named {op.name!r}")
    if op.parent_id:
        parts.append(f"under {op.parent_id}")
    return " ".join(parts)
