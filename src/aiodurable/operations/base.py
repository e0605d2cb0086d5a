"""The base of every durable operation: the loop over its stored checkpoint, the plugin
hooks around user code, and how a stored value is read back.

One call of an operation is one :class:`DurableOperation`. Its :meth:`~DurableOperation.run`
is the status loop every kind shares::

    read ─► nothing recorded ─► begin()  (START, for kinds that start at once: BEGINS)
      │
      ▼
    status in ENDED? ── yes ─► outcome(op): the stored result, or its error raised
      │ no
      ▼
    act(op) ─► an operation to look at again (it checkpointed, or ran an attempt)
      ├──────► PARK: park until the service reports a change (refresh first when the
      │        change is due at a time: timers and retries only show when asked), read
      └──────► DONE: the result this invocation produced (:meth:`finish`)

A kind says which statuses end it, what it does on each other status, and, when it
parks, until when (:meth:`resume_at`). The plugins' user-function and context-end hooks
are fired here only.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Awaitable, Coroutine
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Generic, TypeVar

from aiodurable.errors import PayloadUnavailableError
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.serdes import AnySerdes, SerdesContext, from_checkpoint
from aiodurable.wire import TERMINAL_STATUSES, ErrorObject, Operation, OperationStatus
from aiodurable.wire.identity import OperationIdentity

__all__ = [
    "DONE",
    "LATER",
    "PARK",
    "DurableOperation",
    "OperationIdentity",
    "Move",
    "RUN_CODE",
    "operation_of",
    "read_stored",
]

T = TypeVar("T")
R = TypeVar("R")


class Move(enum.Enum):
    """What a kind's hook tells the loop, besides an operation to look at again."""

    #: Park until the service reports a change of the operation, then read it again.
    PARK = "park"
    #: The operation is over: :meth:`DurableOperation.run` returns what :meth:`finish` kept.
    DONE = "done"
    #: :meth:`DurableOperation.replayed` has no result at hand: await ``outcome``.
    LATER = "later"


PARK = Move.PARK
DONE = Move.DONE
LATER = Move.LATER


class DurableOperation(Generic[T]):
    """One call of a durable operation over its stored checkpoint (see the module)."""

    __slots__ = ("_result", "execution", "identity")

    #: Whether a call with nothing recorded checkpoints its START first (:meth:`begin`).
    BEGINS: ClassVar[bool] = False
    #: The statuses on which the operation has ended: :meth:`outcome` reads them. A tuple:
    #: ``in`` compares enum members by identity first, where a set hashes them in Python.
    ENDED: ClassVar[tuple[OperationStatus, ...]] = tuple(TERMINAL_STATUSES)

    def __init__(self, execution: InvocationState, identity: OperationIdentity) -> None:
        self.execution = execution
        self.identity = identity

    #: Whether the operation counts as working for the invocation scheduler while it
    #: runs and is not parked (a context's body is workflow code: it does not).
    WORKING: ClassVar[bool] = True

    # -- the loop ----------------------------------------------------------------------
    async def run(self) -> T:
        identity = self.identity  # self.read(), written out: replay's hot path
        op = self.execution.checkpoint_for(
            identity.id, identity.type, identity.sub_type, identity.name, identity.parent_id
        )
        ended = self.ENDED
        if op is not None and op.status in ended:
            value = self.replayed(op)
            if value is not LATER:
                return value  # type: ignore[return-value]  # replay's hot path: no await
        # One coroutine for the whole loop: every frame between a task and the code it
        # awaits is crossed again at each suspension.
        scheduler = self.execution.scheduler
        working = self.WORKING
        task = scheduler.enter(identity, working)
        try:
            if op is None and self.BEGINS:
                op = await self.begin()
            parked = False  # the last move was a park that saw no change yet
            while True:
                if op is not None and op.status in ended:
                    value = self.replayed(op)
                    if value is LATER:
                        return await self.outcome(op)
                    return value  # type: ignore[return-value]  # T or LATER
                move = await self.act(op)
                if move is DONE:
                    result: T = self._result
                    return result
                if move is not PARK:  # the operation as now stored, to look at again
                    parked = False
                    op = move  # type: ignore[assignment]  # act() gives an Operation here
                    continue
                execution = self.execution
                due = self.resume_at(op, parked)
                parked = True
                await execution.park(due, watch=identity.id)
                if due is not None:
                    await execution.checkpointer.refresh()
                op = self.read()
        finally:
            scheduler.exit(task, working)

    # -- what each kind says -----------------------------------------------------------
    async def begin(self) -> Operation | None:
        """Nothing is recorded yet: checkpoint what starts the operation, if it starts
        before acting (by default nothing), and return the operation as then stored."""
        return None

    def replayed(self, op: Operation) -> T | Move:
        """The stored result of an ended operation when it can be had without awaiting
        (replay's hot path: a JSON result), else ``LATER`` for :meth:`outcome`."""
        return LATER

    async def outcome(self, op: Operation) -> T:
        """The stored result of an ended operation, or its stored error raised."""
        raise NotImplementedError

    async def act(self, op: Operation | None) -> Operation | Move | None:
        """Do what status ``op`` (``None``: new) calls for; by default park."""
        return PARK

    def resume_at(self, op: Operation | None, again: bool) -> float | None:
        """When a park should end at the latest (epoch seconds); ``None`` waits for the
        service to report a change. ``again``: the last park ended without one."""
        return None

    def finish(self, result: T) -> Move:
        """End the loop with ``result``, produced in this invocation (return it from
        :meth:`act`)."""
        self._result = result
        return DONE

    # -- shared by every kind ----------------------------------------------------------
    def read(self) -> Operation | None:
        """The stored checkpoint of this operation, identity-checked."""
        identity = self.identity
        return self.execution.checkpoint_for(
            identity.id, identity.type, identity.sub_type, identity.name, identity.parent_id
        )

    def serdes_context(self) -> SerdesContext:
        return SerdesContext(
            operation_id=self.identity.id, durable_execution_arn=self.execution.arn
        )

    async def read_stored(self, serdes: AnySerdes, text: str | None) -> Any:
        """A value this operation stored, decoded (see :func:`read_stored`)."""
        return await read_stored(self.execution, serdes, text, self.serdes_context())

    # -- the plugin hooks --------------------------------------------------------------
    def user_function_hooks(
        self, attempt: int | None = None, is_replay_children: bool = False
    ) -> AbstractContextManager[None] | None:
        """The plugins' hooks around one run of user code; ``None`` without plugins (the
        caller then runs the code bare: no hook costs anything)."""
        hooks = self.execution.hooks
        if not hooks.enabled:
            return None
        return hooks.user_function(
            self.identity, attempt=attempt, is_replay_children=is_replay_children
        )

    def user_code(self, work: Awaitable[R], *, is_replay_children: bool = False) -> Awaitable[R]:
        """User code (a context's function) to await between the user-function hooks;
        ``work`` itself without plugins (every coroutine frame between a task and the code
        it runs is crossed again at each of its suspensions)."""
        hooks = self.user_function_hooks(None, is_replay_children)
        if hooks is None:
            return work
        return _hooked(hooks, work)

    def ended_unrecorded(
        self,
        status: OperationStatus,
        error: ErrorObject | None,
        *,
        is_replayed: bool | None = None,
    ) -> None:
        """Tell the plugins that a context ended without a checkpoint of its own."""
        hooks = self.execution.hooks
        if hooks.enabled:
            hooks.context_ended(self.identity, status, error, is_replayed=is_replayed)


#: The code of every operation's :meth:`~DurableOperation.run`: such a coroutine reports
#: its start and end to the scheduler itself.
RUN_CODE = DurableOperation.run.__code__


def operation_of(coro: Coroutine[Any, Any, Any]) -> OperationIdentity | None:
    """The identity of the operation whose :meth:`DurableOperation.run` ``coro`` is
    (``None`` for any other coroutine): how the scheduler names an operation that was
    never awaited (it keeps only the coroutine until the operation starts)."""
    if getattr(coro, "cr_code", None) is not RUN_CODE:
        return None
    operation = inspect.getcoroutinelocals(coro).get("self")
    return operation.identity if isinstance(operation, DurableOperation) else None


async def _hooked(hooks: AbstractContextManager[None], work: Awaitable[R]) -> R:
    with hooks:
        return await work


async def read_stored(
    execution: InvocationState, serdes: AnySerdes, text: str | None, context: SerdesContext
) -> Any:
    """The value an operation stored, decoded through ``serdes`` (``None``: no payload).

    A store that cannot be read for now ends the invocation, not the execution: the
    failure is made fatal before it is raised, so workflow code that catches it cannot
    carry on down another path than the one the checkpoints record.
    """
    try:
        return await from_checkpoint(serdes, text, context)
    except PayloadUnavailableError as exc:
        execution.fail(exc)
        raise
