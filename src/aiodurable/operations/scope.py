"""Id allocation and replay tracking of one context (PROTOCOL §3, §4.2).

Every operation is assigned its id when it is *called*, so
``await asyncio.gather(ctx.step(a), ctx.step(b))`` numbers ``a`` before ``b`` on every
replay whatever order the tasks run in.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from aiodurable.errors import OperationInStepError
from aiodurable.operations.attempt import running_step
from aiodurable.operations.base import OperationIdentity
from aiodurable.runtime.execution import Execution
from aiodurable.runtime.operation_ids import step_id
from aiodurable.wire import TERMINAL_STATUSES, OperationType

__all__ = ["OperationScope"]

T = TypeVar("T")


class OperationScope:
    """The numbering and replay status of the operations of one context."""

    __slots__ = ("_counter", "_execution", "_peeked", "_replaying", "id_prefix", "parent_id")

    def __init__(
        self,
        execution: Execution,
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

    def _next_id(self) -> str:
        self._counter += 1
        peeked = self._peeked
        if peeked is not None and peeked[0] == self._counter:
            return peeked[1]
        return step_id(self.id_prefix, self._counter)

    def _peek_id(self) -> str:
        """The id the next operation will get (computed once, reused by ``_next_id``)."""
        counter = self._counter + 1
        peeked = self._peeked
        if peeked is None or peeked[0] != counter:
            peeked = self._peeked = (counter, step_id(self.id_prefix, counter))
        return peeked[1]

    def _identity(
        self, type_: OperationType, sub_type: str | None, name: str | None
    ) -> OperationIdentity:
        step = running_step()
        if step is not None:
            called = name or sub_type or type_.value
            raise OperationInStepError(
                f"durable operation {called!r} was called inside the body of step "
                f"{step.name or step.operation_id!r} (operation {step.operation_id}); a step "
                "cannot contain durable operations. Call it from the workflow, or group the "
                "operations with ctx.run_in_child_context(...) instead of ctx.step(...)."
            )
        return OperationIdentity(self._next_id(), type_, sub_type, name, self.parent_id)

    def _tracked(self, identity: OperationIdentity, work: Awaitable[T]) -> Awaitable[T]:
        """Track replay status around an operation (PROTOCOL §4.2).

        New work needs no tracking (the status only moves from REPLAY to NEW), so outside
        replay the operation's own coroutine is returned as it is.
        """
        if not self._replaying:
            return work
        operations = self._execution.operations
        op = operations.get(identity.id)
        if op is None:
            self._replaying = False  # the replay frontier: new code from here on
            return work
        if op.type is OperationType.STEP:
            if op.status not in TERMINAL_STATUSES:
                self._replaying = False  # the step's body will really run
            elif self._peek_id() not in operations:
                # A finished step replays without running code or checkpointing, so the
                # status after it is already known.
                self._replaying = False
            return work
        return self._replay_tracked(op.status in TERMINAL_STATUSES, work)

    async def _replay_tracked(self, terminal: bool, work: Awaitable[T]) -> T:
        try:
            return await work
        finally:
            if not terminal or self._peek_id() not in self._execution.operations:
                self._replaying = False
