"""The attempt runner shared by ``ctx.step`` and ``ctx.wait_for_condition``.

One attempt is one call of user code: :func:`run_attempt` exposes it as
:class:`StepContext`, runs the plugins' user-function hooks around it (in the task or the
worker thread the code runs in) and turns ``SystemExit`` into :class:`ProcessExit`. Between
attempts :func:`retry_later` checkpoints RETRY and :func:`wait_for_retry` parks until
the service reports the next attempt READY.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from aiodurable._weakcache import weak_memo
from aiodurable.operations.base import OperationIdentity, read_operation
from aiodurable.operations.timeouts import call_with_timeout
from aiodurable.runtime.execution import Execution
from aiodurable.runtime.signals import ProcessExit
from aiodurable.wire import Operation, OperationAction, OperationStatus, StepOptions

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

__all__ = [
    "StepContext",
    "attempts_made",
    "enter_attempt",
    "exit_attempt",
    "retry_later",
    "run_attempt",
    "wait_for_retry",
]

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


async def run_attempt(
    execution: Execution,
    identity: OperationIdentity,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    attempt: int,
    attempt_timeout: float | None = None,
) -> Any:
    """Run attempt number ``attempt`` of user code: async on the loop, sync in a worker
    thread, with the plugins' user-function hooks around it (where the code runs).

    With ``attempt_timeout`` (seconds) the attempt fails with ``StepTimeoutError`` past it; see
    :mod:`aiodurable.operations.timeouts` for what happens to the body.
    """
    hooks = execution.hooks
    try:
        if attempt_timeout is not None:
            return await call_with_timeout(
                fn,
                args,
                is_async=_is_async(fn),
                seconds=attempt_timeout,
                hooks=_user_function(execution, identity, attempt),
                what=f"step {identity.name or identity.id!r} attempt {attempt}",
            )
        if not _is_async(fn):
            if hooks.enabled:
                return await _call_sync(_with_hooks, (execution, identity, attempt, fn, args))
            return await _call_sync(fn, args)
        if not hooks.enabled:
            return await fn(*args)
        with _user_function(execution, identity, attempt):
            return await fn(*args)
    except SystemExit as exc:
        exit_ = ProcessExit(exc.code)
        execution.fail(exit_)  # whatever the workflow does with it, the invocation ends
        raise exit_ from exc


def _user_function(
    execution: Execution, identity: OperationIdentity, attempt: int
) -> AbstractContextManager[None]:
    return execution.hooks.user_function(identity, attempt=attempt)


def _with_hooks(
    execution: Execution,
    identity: OperationIdentity,
    attempt: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
) -> Any:
    """A sync attempt with its hooks, in the worker thread the attempt runs in."""
    with _user_function(execution, identity, attempt):
        return fn(*args)


async def _call_sync(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    import anyio.to_thread  # only sync step functions need it (cold start)

    result = await anyio.to_thread.run_sync(functools.partial(fn, *args))
    if inspect.isawaitable(result):
        result = await result
    return result


async def retry_later(
    execution: Execution, identity: OperationIdentity, delay_seconds: int, **fields: Any
) -> Operation | None:
    """Checkpoint RETRY with ``fields`` (an error or a state payload) and park until the
    attempt is due; returns the operation as the service then reports it."""
    delay = max(1, int(delay_seconds))  # the service rejects 0 (docs/protocol.md §2.2)
    await execution.checkpointer.checkpoint(
        identity.update(
            OperationAction.RETRY,
            step_options=StepOptions(next_attempt_delay_seconds=delay),
            **fields,
        )
    )
    stored = read_operation(execution, identity)
    if stored is None or stored.status is not OperationStatus.PENDING:
        return stored
    return await wait_for_retry(execution, identity, stored, time.time() + delay)


async def wait_for_retry(
    execution: Execution,
    identity: OperationIdentity,
    op: Operation,
    due: float | None = None,
) -> Operation | None:
    """Park until the retry is due, then learn from the service whether it is READY."""
    while True:
        if due is None:
            details = op.step_details
            stamp = details.next_attempt_timestamp if details else None
            due = stamp.timestamp() if stamp is not None else time.time()
        await execution.park(due, watch=identity.id)
        await execution.checkpointer.refresh()
        current = read_operation(execution, identity)
        if current is None or current.status is not OperationStatus.PENDING:
            return current
        op, due = current, time.time() + 1.0
