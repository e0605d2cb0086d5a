"""The base of ``ctx.step`` and ``ctx.wait_for_condition``: operations run in attempts.

One attempt is one call of user code: :meth:`AttemptOperation.run_attempt` exposes it as
:class:`StepContext`, runs the plugins' user-function hooks around it (in the task or the
worker thread the code runs in) and turns ``SystemExit`` into :class:`ProcessExit`. Between
attempts :meth:`AttemptOperation.retry_later` checkpoints RETRY, and the status loop parks
the PENDING operation until the service reports the next attempt READY.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar

from aiodurable._weakcache import weak_memo
from aiodurable.operations.base import DurableOperation, OperationIdentity
from aiodurable.operations.timeouts import call_with_timeout
from aiodurable.runtime.signals import ProcessExit
from aiodurable.wire import Operation, OperationAction, OperationStatus, StepOptions

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

__all__ = [
    "AttemptOperation",
    "StepContext",
    "attempts_made",
    "enter_attempt",
    "exit_attempt",
]

T = TypeVar("T")

_current_step: ContextVar[StepContext | None] = ContextVar("aiodurable_step", default=None)


class StepContext:
    """What a running step body can know about itself.

    Reach it with :meth:`StepContext.current` from inside the step function (sync or
    async)::

        async def charge(order: Order) -> Receipt:
            step = StepContext.current()
            step.logger.info("charging", attempt=step.attempt)
    """

    __slots__ = ("_logger", "_logger_factory", "attempt", "name", "operation_id")

    def __init__(
        self,
        operation_id: str,
        name: str | None,
        attempt: int,
        logger_factory: Callable[..., FilteringBoundLogger],
    ) -> None:
        self.operation_id = operation_id
        self.name = name
        #: 1-based number of the attempt that is running.
        self.attempt = attempt
        self._logger_factory = logger_factory
        self._logger: FilteringBoundLogger | None = None

    @property
    def logger(self) -> FilteringBoundLogger:
        """A logger bound with the operation id, name and attempt."""
        if self._logger is None:
            self._logger = self._logger_factory(
                operationId=self.operation_id, operationName=self.name, attempt=self.attempt
            )
        return self._logger

    @classmethod
    def current(cls) -> StepContext:
        """The context of the step running in this task or thread."""
        step = _current_step.get()
        if step is None:
            raise RuntimeError("StepContext.current() is only available inside a step body")
        return step


@weak_memo
def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )


def running_step() -> StepContext | None:
    """The step whose body is running in this task or thread, if any."""
    return _current_step.get()


def attempts_made(op: Operation | None) -> int:
    """How many attempts the stored operation records (0 for a new one)."""
    if op is None or op.step_details is None:
        return 0
    return op.step_details.attempt or 0


def enter_attempt(
    identity: OperationIdentity,
    attempt: int,
    logger_factory: Callable[..., FilteringBoundLogger],
) -> Token[StepContext | None]:
    """Make ``StepContext.current()`` describe this attempt, until :func:`exit_attempt`.

    The caller keeps it set while it decides what the attempt's outcome means (retry
    policy, wait strategy), so those see the attempt too.
    """
    return _current_step.set(StepContext(identity.id, identity.name, attempt, logger_factory))


def exit_attempt(token: Token[StepContext | None]) -> None:
    _current_step.reset(token)


class AttemptOperation(DurableOperation[T]):
    """An operation that runs user code in attempts, retried through RETRY and PENDING:
    ``ctx.step`` and ``ctx.wait_for_condition``."""

    __slots__ = ("_retry_due", "logger_factory")

    # A kind sets, in its ``__init__``: ``logger_factory`` (the loggers of StepContext)
    # and ``_retry_due = None`` (when the retry this invocation checkpointed is due).
    # No ``__init__`` here: one call fewer on every step.
    logger_factory: Callable[..., FilteringBoundLogger]
    _retry_due: float | None

    async def run_attempt(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        attempt: int,
        attempt_timeout: float | None = None,
    ) -> Any:
        """Run attempt number ``attempt`` of user code: async on the loop, sync in a
        worker thread, with the plugins' user-function hooks around it (where the code
        runs).

        With ``attempt_timeout`` (seconds) the attempt fails with ``StepTimeoutError``
        past it; see :mod:`aiodurable.operations.timeouts` for what happens to the body.
        """
        hooks = self.user_function_hooks(attempt) if self.execution.hooks.enabled else None
        try:
            if attempt_timeout is not None:
                identity = self.identity
                return await call_with_timeout(
                    fn,
                    args,
                    is_async=_is_async(fn),
                    seconds=attempt_timeout,
                    hooks=hooks or nullcontext(),
                    what=f"step {identity.name or identity.id!r} attempt {attempt}",
                )
            if not _is_async(fn):
                if hooks is not None:
                    return await _call_sync(_with_hooks, (hooks, fn, args))
                return await _call_sync(fn, args)
            if hooks is None:
                return await fn(*args)
            with hooks:
                return await fn(*args)
        except SystemExit as exc:
            exit_ = ProcessExit(exc.code)
            self.execution.fail(exit_)  # whatever the workflow does with it, the invocation ends
            raise exit_ from exc

    async def retry_later(self, delay_seconds: int, **fields: Any) -> Operation | None:
        """Checkpoint RETRY with ``fields`` (an error or a state payload); returns the
        operation as then stored (PENDING: the loop parks until the retry is due)."""
        delay = max(1, int(delay_seconds))  # the service rejects 0 (docs/protocol.md §2.2)
        await self.execution.checkpointer.checkpoint(
            self.identity.update(
                OperationAction.RETRY,
                step_options=StepOptions(next_attempt_delay_seconds=delay),
                **fields,
            )
        )
        due = time.time() + delay
        stored = self.read()
        pending = stored is not None and stored.status is OperationStatus.PENDING
        self._retry_due = due if pending else None
        return stored

    def resume_at(self, op: Operation | None, again: bool) -> float:
        """A PENDING attempt: until the retry is due, then, while the service does not
        report it READY, a second at a time."""
        if again:
            return time.time() + 1.0
        due, self._retry_due = self._retry_due, None
        if due is not None:
            return due
        details = op.step_details if op is not None else None
        stamp = details.next_attempt_timestamp if details else None
        return stamp.timestamp() if stamp is not None else time.time()


def _with_hooks(
    hooks: AbstractContextManager[None], fn: Callable[..., Any], args: tuple[Any, ...]
) -> Any:
    """A sync attempt with its hooks, in the worker thread the attempt runs in."""
    with hooks:
        return fn(*args)


async def _call_sync(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    import anyio.to_thread  # only sync step functions need it (cold start)

    result = await anyio.to_thread.run_sync(functools.partial(fn, *args))
    if inspect.isawaitable(result):
        result = await result
    return result
