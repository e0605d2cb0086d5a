"""``ctx.saga``: steps registered with their compensations, undone newest first on failure.

A saga is a terminal scope whose ``step`` runs a forward step and, once it succeeded,
registers its compensation called with the step's result::

    async with ctx.saga("booking") as saga:
        seat = await saga.step(reserve_seat, trip, compensate=release_seat)
        paid = await saga.step(charge_card, trip, compensate=refund)
        await saga.step(ship_tickets, trip)

When a later step (or anything else in the block) fails, ``refund(paid)`` and then
``release_seat(seat)`` run as steps, and the failure is re-raised. A forward step that
fails has no compensation to run: its effect is its own retries' business (make it
idempotent, or register an ``on_failure`` before it when a failed attempt may have left
something behind).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, overload

from aiodurable.duration import Seconds
from aiodurable.operations.forwarding import reject_keywords
from aiodurable.operations.names import check_name, default_name
from aiodurable.operations.terminal_scope import ScopeReport, StepRunner, TerminalScope
from aiodurable.retry import RetryPolicy, StepSemantics
from aiodurable.serdes import AsyncSerdes, Serdes

__all__ = ["Saga"]

T = TypeVar("T")

_SAGA_STEP_OPTIONS = (
    "compensate",
    "compensate_name",
    "name",
    "retry",
    "semantics",
    "timeout",
    "result_type",
    "serdes",
)


class Saga(TerminalScope):
    """A terminal scope whose steps carry their compensations; see ``ctx.saga``."""

    __slots__ = ("_context",)

    def __init__(
        self,
        name: str | None,
        context: StepRunner,
        run_actions: Callable[[Callable[[Any], Awaitable[ScopeReport]]], Awaitable[ScopeReport]],
        suspending: Callable[[], bool],
    ) -> None:
        super().__init__(name, run_actions, suspending)
        self._context = context

    @overload
    def step(
        self,
        fn: Callable[..., Coroutine[Any, Any, T]],
        /,
        *args: Any,
        compensate: Callable[[T], Any] | None = ...,
        compensate_name: str | None = ...,
        name: str | None = ...,
        retry: RetryPolicy | None = ...,
        semantics: StepSemantics = ...,
        timeout: Seconds | None = ...,
        result_type: type[T] | None = ...,
        serdes: Serdes[T] | AsyncSerdes[Any] | None = ...,
    ) -> Awaitable[T]: ...

    @overload
    def step(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        compensate: Callable[[T], Any] | None = ...,
        compensate_name: str | None = ...,
        name: str | None = ...,
        retry: RetryPolicy | None = ...,
        semantics: StepSemantics = ...,
        timeout: Seconds | None = ...,
        result_type: type[T] | None = ...,
        serdes: Serdes[T] | AsyncSerdes[Any] | None = ...,
    ) -> Awaitable[T]: ...

    def step(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        compensate: Callable[[Any], Any] | None = None,
        compensate_name: str | None = None,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY,
        timeout: Seconds | None = None,
        result_type: Any = None,
        serdes: Any = None,
        **unknown: Any,
    ) -> Awaitable[Any]:
        """``ctx.step(fn, *args, …)``; once it succeeded, ``compensate(result)`` is
        registered as a compensation (a step named ``compensate_name``, by default the
        function's name), to run if the saga fails."""
        reject_keywords("saga.step", unknown, _SAGA_STEP_OPTIONS)
        self._check_open()  # before the forward step runs, not after
        undo_name = (
            check_name(compensate_name)
            if compensate_name is not None
            else (default_name(compensate) if compensate is not None else None)
        )
        # The step is called (and takes its id) now, as ctx.step's are.
        forward = self._context.step(
            fn,
            *args,
            name=name,
            retry=retry,
            semantics=semantics,
            timeout=timeout,
            result_type=result_type,
            serdes=serdes,
        )
        return self._registering(forward, compensate, undo_name)

    async def _registering(
        self, forward: Awaitable[Any], compensate: Callable[[Any], Any] | None, name: str | None
    ) -> Any:
        result = await forward
        if compensate is not None:
            self.on_failure(compensate, result, name=name)
        return result
