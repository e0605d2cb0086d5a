"""``ctx.run_in_child_context``: a group of operations checkpointed as one (docs/protocol.md §6.7),
or, virtual, a group that is only a naming scope and leaves no record of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiodurable.errors import ChildContextError, error_object_from_exception
from aiodurable.operations.base import DurableOperation, Move, OperationIdentity
from aiodurable.operations.context_operation import no_summary, run_context
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.runtime.signals import FATAL_ERRORS
from aiodurable.serdes import AnySerdes
from aiodurable.wire import Operation, OperationStatus

__all__ = ["VirtualChild", "run_child", "run_virtual_child"]

T = TypeVar("T")
C = TypeVar("C")


def run_child(
    execution: InvocationState,
    identity: OperationIdentity,
    body: Callable[[C], Awaitable[T]],
    make_context: Callable[[bool], C],
    *,
    serdes: AnySerdes,
    summary: Callable[[Any], str] | None,
) -> Coroutine[Any, Any, T]:
    """Run ``body`` in a child context created by ``make_context(replaying)``."""
    return run_context(
        execution,
        identity,
        lambda replaying, _stored: body(make_context(replaying)),
        serdes=serdes,
        summary=summary or no_summary,
        failure=ChildContextError.from_error_object,
    )


def run_virtual_child(
    execution: InvocationState,
    identity: OperationIdentity,
    body: Callable[[C], Awaitable[T]],
    context: C,
    ended_before: Callable[[], bool],
) -> Coroutine[Any, Any, T]:
    """Run ``body(context)`` as a virtual child context (a :class:`VirtualChild`)."""
    return VirtualChild(execution, identity, lambda: body(context), ended_before).run()


class VirtualChild(DurableOperation[T]):
    """A virtual child context: no START, SUCCEED or FAIL.

    Its body runs on every invocation that reaches it, and its operations replay from
    their own checkpoints (ids prefixed with the virtual context's id, parent the
    enclosing recorded context). The plugins hear it as the official SDK reports one: the
    user-function hooks around the body, then an operation end, with no operation start.
    The end is ``is_replayed`` when ``ended_before()`` says, once the body returned,
    that the context had already ended in an earlier invocation.
    """

    __slots__ = ("_body", "_ended_before")

    #: Nothing is ever recorded for it.
    ENDED = ()

    def __init__(
        self,
        execution: InvocationState,
        identity: OperationIdentity,
        body: Callable[[], Awaitable[T]],
        ended_before: Callable[[], bool],
    ) -> None:
        super().__init__(execution, identity)
        self._body = body
        self._ended_before = ended_before

    def read(self) -> Operation | None:
        identity = self.identity
        recorded = self.execution.operations.get(identity.id)
        if recorded is not None:
            kind = recorded.sub_type or recorded.type.value
            self.execution.nondeterminism(
                f"operation {identity.id} was recorded as {kind} {recorded.name!r} but now "
                f"runs as virtual child context {identity.name!r}, which records nothing: a "
                "virtual context must stay virtual (and a recorded one recorded) for the life "
                "of an execution"
            )
        return None

    async def act(self, op: Operation | None) -> Move:
        try:
            result = await self.user_code(self._body())
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            error = error_object_from_exception(exc)
            self.ended_unrecorded(OperationStatus.FAILED, error, is_replayed=self._ended_before())
            raise ChildContextError.from_error_object(error) from exc
        self.ended_unrecorded(OperationStatus.SUCCEEDED, None, is_replayed=self._ended_before())
        return self.finish(result)
