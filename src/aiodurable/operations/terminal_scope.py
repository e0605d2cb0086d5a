"""``ctx.terminal_scope``: cleanup and compensations that run on a true outcome only.

A terminal scope is an ``async with`` block of workflow code. Inside it the workflow
registers *compensations* (``scope.on_failure``: run only when the block fails) and
*cleanups* (``scope.finally_``: run whatever the outcome). When the block ends, the due
actions run newest first, as steps of one child context (sub-type ``TerminalScope``):

- a suspension is not an end: while the invocation suspends (``ctx.is_suspending()``)
  the block unwinds without running anything, and the next invocation replays it;
- every action is a step, so it runs once per its step semantics and is recorded as it
  completes; a crash or a suspension in the middle of the actions replays the block
  (its operations replay from their records, and it fails again the same way) and
  then the actions, of which the finished ones replay without running;
- the child context's id is taken when the scope is *created*, before the block's own
  operations, so it does not depend on how far the block got;
- an action that fails after its retries does not stop the others; once all ran, the
  block's error is re-raised, or :class:`TerminalScopeError` (carrying it and the
  failed actions) when an action failed;
- nothing is recorded when no action is due: a successful block with compensations
  only costs no operation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar

import msgspec

from aiodurable.duration import Seconds
from aiodurable.errors import (
    ActionFailure,
    StepError,
    TerminalScopeError,
    ValidationError,
    step_error_from,
)
from aiodurable.operations.forwarding import reject_keywords
from aiodurable.operations.names import check_name, default_name
from aiodurable.retry import RetryPolicy, StepSemantics
from aiodurable.runtime.signals import FATAL_ERRORS, ProcessExit
from aiodurable.wire import ErrorObject

__all__ = ["ACTION_OPTIONS", "ScopeReport", "StepRunner", "TerminalScope"]

T = TypeVar("T")

ActionKind = Literal["compensation", "cleanup"]

#: The keywords of ``on_failure`` / ``finally_`` (everything else is refused).
ACTION_OPTIONS = ("name", "retry", "semantics", "timeout")


class StepRunner(Protocol):
    """What a terminal scope needs of a context: its ``step`` (defined a layer above)."""

    def step(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        name: str | None = ...,
        retry: RetryPolicy | None = ...,
        semantics: StepSemantics = ...,
        timeout: Seconds | None = ...,
        result_type: Any = ...,
        serdes: Any = ...,
    ) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class _Action:
    kind: ActionKind
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    name: str | None
    retry: RetryPolicy | None
    semantics: StepSemantics
    timeout: Seconds | None


class _RecordedFailure(msgspec.Struct, rename="pascal"):
    name: str | None
    kind: ActionKind
    #: The step's failure as it is recorded (``ErrorType`` names the action's own error).
    error: ErrorObject


class ScopeReport(msgspec.Struct, rename="pascal"):
    """What the scope's child context records: the actions that failed."""

    failures: list[_RecordedFailure] = msgspec.field(default_factory=list)


class TerminalScope:
    """An ``async with`` block with cleanup and compensations; see ``ctx.terminal_scope``."""

    __slots__ = ("_actions", "_run_actions", "_state", "_suspending", "name")

    def __init__(
        self,
        name: str | None,
        run_actions: Callable[[Callable[[Any], Awaitable[ScopeReport]]], Awaitable[ScopeReport]],
        suspending: Callable[[], bool],
    ) -> None:
        #: The scope's name (that of its child context in the history).
        self.name = name
        self._run_actions = run_actions
        self._suspending = suspending
        self._actions: list[_Action] = []
        self._state: Literal["new", "open", "closed"] = "new"

    # -- registration ------------------------------------------------------------------
    def on_failure(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY,
        timeout: Seconds | None = None,
        **unknown: Any,
    ) -> None:
        """Register a compensation: ``fn(*args)`` runs as a step if the block fails.

        Compensations and cleanups run newest first when the block ends. Options are
        those of ``ctx.step``; keywords for ``fn`` go through ``functools.partial``.
        """
        reject_keywords("scope.on_failure", unknown, ACTION_OPTIONS)
        self._register("compensation", fn, args, name, retry, semantics, timeout)

    def finally_(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY,
        timeout: Seconds | None = None,
        **unknown: Any,
    ) -> None:
        """Register a cleanup: ``fn(*args)`` runs as a step when the block ends, whatever
        its outcome, never because the invocation suspends."""
        reject_keywords("scope.finally_", unknown, ACTION_OPTIONS)
        self._register("cleanup", fn, args, name, retry, semantics, timeout)

    def _register(
        self,
        kind: ActionKind,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        name: str | None,
        retry: RetryPolicy | None,
        semantics: StepSemantics,
        timeout: Seconds | None,
    ) -> None:
        self._check_open()
        if not callable(fn):
            raise ValidationError(f"a {kind} must be a function, not {type(fn).__name__}")
        name = check_name(name) if name is not None else default_name(fn)
        self._actions.append(_Action(kind, fn, args, name, retry, semantics, timeout))

    def _check_open(self) -> None:
        if self._state != "open":
            when = "has ended" if self._state == "closed" else "was not entered"
            raise ValidationError(
                f"terminal scope {self.name!r} {when}: register its actions inside its "
                "`async with` block"
            )

    # -- the block ---------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise ValidationError(
                f"terminal scope {self.name!r} was already entered; create one per block"
            )
        self._state = "open"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = "closed"
        if self._suspending() or not _is_outcome(exc):
            return  # the invocation ends with the block unfinished: not an end
        failed = exc is not None
        due = [a for a in reversed(self._actions) if failed or a.kind == "cleanup"]
        if not due:
            return
        report = await self._run_actions(lambda child: _run(child, due))
        if report.failures:
            failures = [
                ActionFailure(f.name, f.kind, step_error_from(f.error)) for f in report.failures
            ]
            raise TerminalScopeError(self.name, exc, failures) from exc


def _is_outcome(exc: BaseException | None) -> bool:
    """Whether the block ending with ``exc`` is an outcome to act on.

    Errors that end the invocation (non-determinism, a revoked token, a failed
    checkpoint, ``SystemExit`` …) are not: the execution does not go on from here.
    A cancellation that is not a suspension (a ``TaskGroup`` sibling failed, an
    ``asyncio.timeout`` around the block) is one: the block failed.
    """
    if exc is None:
        return True
    if isinstance(exc, (*FATAL_ERRORS, ProcessExit)):
        return False
    return isinstance(exc, (Exception, asyncio.CancelledError))


async def _run(child: StepRunner, due: list[_Action]) -> ScopeReport:
    """Run the due actions in order; a failed one is reported, the others still run."""
    report = ScopeReport()
    for action in due:
        try:
            await child.step(
                action.fn,
                *action.args,
                name=action.name,
                retry=action.retry,
                semantics=action.semantics,
                timeout=action.timeout,
            )
        except StepError as error:
            recorded = ErrorObject(
                error_type=error.error_type,
                error_message=error.message,
                error_data=error.error_data,  # the stack stays in the action's own record
            )
            report.failures.append(_RecordedFailure(action.name, action.kind, recorded))
    return report
