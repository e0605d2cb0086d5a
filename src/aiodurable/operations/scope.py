"""Id allocation and replay tracking of one context (docs/protocol.md §3, §4.2).

Every operation is assigned its id when it is *called*, so
``await asyncio.gather(ctx.step(a), ctx.step(b))`` numbers ``a`` before ``b`` on every
replay whatever order the tasks run in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiodurable.errors import OperationInStepError
from aiodurable.operations.attempt import running_step
from aiodurable.operations.base import RUN_CODE
from aiodurable.operations.determinism import check_call_order, unvisited_error
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.runtime.operation_ids import lane_step_id, step_id
from aiodurable.wire import TERMINAL_STATUSES, OperationType
from aiodurable.wire.identity import OperationIdentity

__all__ = ["OperationScope", "run_completing"]

T = TypeVar("T")

# Read on every operation call: module constants cost less than enum attributes.
_CONTEXT = OperationType.CONTEXT
_STEP = OperationType.STEP


class OperationScope:
    """The numbering and replay status of the operations of one context."""

    __slots__ = (
        "_counter",
        "_current_task",
        "_execution",
        "_lanes",
        "_last_by_task",
        "_owner",
        "_owner_path",
        "_peeked",
        "_replaying",
        "id_prefix",
        "parent_id",
    )

    def __init__(
        self,
        execution: InvocationState,
        parent_id: str | None,
        id_prefix: str | None,
        replaying: bool,
    ) -> None:
        self._execution = execution
        self.parent_id = parent_id
        self.id_prefix = id_prefix
        self._counter = 0
        self._peeked: tuple[int, str] | None = None
        self._replaying = replaying
        #: With a replay trace: the last id each task took in this context.
        self._last_by_task: dict[asyncio.Task[Any] | None, str] | None = None
        #: The task that runs this context's code (its path in the invocation's task
        #: tree), and how many operations each other task (by lane) has called in it.
        scheduler = execution.scheduler
        self._current_task = scheduler.current_task
        self._owner = owner = scheduler.current_task()
        self._owner_path = scheduler.path_of(owner)
        self._lanes: dict[str, int] | None = None

    def _next_id(self) -> str:
        task = self._current_task()
        if task is not self._owner:
            lane = self._execution.scheduler.lane(task, self._owner_path)
            lanes = self._lanes if self._lanes is not None else {}
            self._lanes = lanes
            count = lanes[lane] = lanes.get(lane, 0) + 1
            return lane_step_id(self.id_prefix, lane, count)
        self._counter += 1
        peeked = self._peeked
        if peeked is not None and peeked[0] == self._counter:
            return peeked[1]
        return step_id(self.id_prefix, self._counter)

    def _peek_id(self) -> str:
        """The id the next operation of this task will get (for the context's own task,
        computed once and reused by ``_next_id``)."""
        task = self._current_task()
        if task is not self._owner:
            lane = self._execution.scheduler.lane(task, self._owner_path)
            count = (self._lanes or {}).get(lane, 0) + 1
            return lane_step_id(self.id_prefix, lane, count)
        counter = self._counter + 1
        peeked = self._peeked
        if peeked is None or peeked[0] != counter:
            peeked = self._peeked = (counter, step_id(self.id_prefix, counter))
        return peeked[1]

    def _identity(
        self,
        type_: OperationType,
        sub_type: str | None,
        name: str | None,
        call: Callable[[], str] | None = None,
    ) -> OperationIdentity:
        """The next operation's identity; ``call`` digests what it is called with (only
        computed when a replay trace is kept)."""
        step = running_step()
        if step is not None:
            called = name or sub_type or type_.value
            error = OperationInStepError(
                f"durable operation {called!r} was called inside the body of step "
                f"{step.name or step.operation_id!r} (operation {step.operation_id}); a step "
                "cannot contain durable operations. Call it from the workflow, or group the "
                "operations with ctx.run_in_child_context(...) instead of ctx.step(...)."
            )
            # Fatal at once: a body that catches the error cannot make the step succeed.
            self._execution.fail(error)
            raise error
        op_id = self._next_id()
        execution = self._execution
        execution.reached(op_id, self.parent_id)
        if execution.trace is not None:
            last = self._last_by_task
            if last is None:
                last = self._last_by_task = {}
            task = self._current_task()
            previous = last.get(task, "")
            last[task] = op_id
            check_call_order(execution, op_id, type_, name, self.parent_id, previous, call)
        return OperationIdentity(op_id, type_, sub_type, name, self.parent_id)

    def _ensure_all_visited(self) -> None:
        """Called when the context's code has completed: every operation recorded in it
        must have been reached again (docs/protocol.md §4.6; the official SDK does not check).

        Checked by parent id, so a context's operations include those of the virtual
        contexts inside it (which share its parent id); a context whose parent id is not
        its own (a FLAT branch, a virtual context) is covered by the one that owns it.
        """
        if self.parent_id != self.id_prefix:
            return
        execution = self._execution
        missing = execution.unreached(self.parent_id)
        if not missing:
            return
        task = asyncio.current_task()
        if not execution.outcome.running or (task is not None and task.cancelling()):
            return  # suspending or cancelled (a batch completed early): not completed
        execution.nondeterminism(unvisited_error(execution, self.parent_id, missing))

    def _tracked(
        self, identity: OperationIdentity, work: Coroutine[Any, Any, T]
    ) -> Coroutine[Any, Any, T]:
        """Track an operation for the scheduler (from its call: an operation never awaited
        is reported when the workflow returns) and its replay status (docs/protocol.md §4.2).

        Every kind but a context works while it runs (a context's body is workflow code).
        New work needs no replay tracking: the status only moves from REPLAY to NEW.
        """
        if not self._replaying:  # new work
            return self._called(identity, work)
        operations = self._execution.operations
        op = operations.get(identity.id)
        if op is None:
            self._replaying = False  # the replay frontier: new code from here on
            return self._called(identity, work)
        if op.type is _STEP:
            if op.status not in TERMINAL_STATUSES:
                self._replaying = False  # the step's body will really run
                return self._called(identity, work)
            if self._peek_id() not in operations:
                # A finished step replays without running code or checkpointing, so the
                # status after it is already known.
                self._replaying = False
            # Nothing to schedule: it returns (or raises) what it recorded, and a copy
            # never awaited loses nothing. (An offloaded value is read back: a suspension
            # in the middle of that read only means reading it again.)
            return work
        return self._replay_tracked(op.status in TERMINAL_STATUSES, self._called(identity, work))

    def _called(
        self, identity: OperationIdentity, work: Coroutine[Any, Any, T]
    ) -> Coroutine[Any, Any, T]:
        return self._execution.scheduler.called(
            identity,
            work,
            identity.type is not _CONTEXT,  # working: every kind but a context
            getattr(work, "cr_code", None) is RUN_CODE,  # reports its start and end
        )

    async def _replay_tracked(self, terminal: bool, work: Awaitable[T]) -> T:
        try:
            return await work
        finally:
            if not terminal or self._peek_id() not in self._execution.operations:
                self._replaying = False


async def run_completing(body: Callable[[Any], Awaitable[T]], scope: Any) -> T:
    """``await body(scope)``, then check that the context reached its recorded operations."""
    result = await body(scope)
    scope._ensure_all_visited()
    return result
