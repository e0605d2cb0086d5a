"""``ctx.step``: run a function once per attempt, checkpoint its result (PROTOCOL §6.1)."""

from __future__ import annotations

import functools
import inspect
import time
import typing
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from aiodurable.errors import (
    DurableError,
    NonDeterministicError,
    ResultTooLargeError,
    SerializationError,
    StepError,
    StepInterruptedError,
    error_object_from_exception,
)
from aiodurable.operations.base import OperationIdentity
from aiodurable.plugins import AttemptEndInfo, AttemptInfo
from aiodurable.retry import RetryPolicy, RetryStrategy, StepSemantics
from aiodurable.runtime.checkpointer import TokenRevoked
from aiodurable.runtime.execution import Execution
from aiodurable.serdes import (
    JsonSerdes,
    Serdes,
    check_payload_size,
    decode_json,
    deserialize,
    serialize,
)
from aiodurable.wire import Operation, OperationAction, OperationStatus, StepOptions

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

__all__ = ["ProcessExit", "StepContext", "run_step", "serdes_for_function"]


class ProcessExit(BaseException):
    """User code raised ``SystemExit``: unwinds the invocation without checkpointing.

    ``SystemExit`` itself would stop the event loop when it escapes a task.
    """

    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code


_DEFAULT_RETRY = RetryStrategy.default()
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


@functools.cache
def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )


@functools.cache
def serdes_for_function(fn: Callable[..., Any]) -> Serdes[Any]:
    """Typed JSON serdes from ``fn``'s return annotation (``Any`` when there is none)."""
    target = fn.func if isinstance(fn, functools.partial) else fn
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        hints = {}
    result = hints.get("return", Any)
    origin = typing.get_origin(result)
    if origin is not None and origin.__name__ in {"Coroutine", "Awaitable"}:
        result = typing.get_args(result)[-1]
    if result is type(None):
        result = Any
    return JsonSerdes(result)


async def _call(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    attempt: _Attempt | None = None,
) -> Any:
    """Run user code: async on the loop, sync in a worker thread.

    Plugin attempt hooks run where the user code runs (the task or the worker thread).
    """
    try:
        if _is_async(fn):
            if attempt is None:
                return await fn(*args, **kwargs)
            attempt.start()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                attempt.end(exc)
                raise
            attempt.end(None)
            return result
        return await _call_sync(fn, args, kwargs, attempt)
    except SystemExit as exc:
        raise ProcessExit(exc.code) from exc


async def _call_sync(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    attempt: _Attempt | None,
) -> Any:
    call = (
        functools.partial(fn, *args, **kwargs)
        if attempt is None
        else functools.partial(attempt.run_sync, fn, args, kwargs)
    )
    import anyio.to_thread  # only sync step functions need it (cold start)

    result = await anyio.to_thread.run_sync(call)
    if inspect.isawaitable(result):
        result = await result
    return result


class _Attempt:
    """Plugin hooks around one attempt of user code."""

    __slots__ = ("attempt", "execution", "identity")

    def __init__(self, execution: Execution, identity: OperationIdentity, attempt: int) -> None:
        self.execution = execution
        self.identity = identity
        self.attempt = attempt

    def start(self) -> None:
        self.execution.plugins.call(
            "on_attempt_start",
            AttemptInfo(self.execution.arn, self.identity.id, self.identity.name, self.attempt),
        )

    def end(self, error: BaseException | None) -> None:
        self.execution.plugins.call(
            "on_attempt_end",
            AttemptEndInfo(
                self.execution.arn,
                self.identity.id,
                self.identity.name,
                self.attempt,
                "FAILED" if error is not None else "SUCCEEDED",
                error_object_from_exception(error) if error is not None else None,
            ),
        )

    def run_sync(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        self.start()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self.end(exc)
            raise
        self.end(None)
        return result


async def run_step(
    execution: Execution,
    identity: OperationIdentity,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    retry: RetryPolicy | None,
    semantics: StepSemantics,
    serdes: Serdes[Any],
    logger_factory: Callable[..., FilteringBoundLogger],
) -> Any:
    at_most_once = semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY
    checkpointer = execution.checkpointer
    op = identity.read(execution)
    while True:
        status = op.status if op is not None else None
        if status is OperationStatus.SUCCEEDED:
            assert op is not None
            details = op.step_details
            text = details.result if details else None
            if serdes.__class__ is JsonSerdes and text is not None:
                return decode_json(text, serdes.type_)
            return deserialize(serdes, text, identity.serdes_context(execution))
        if status is OperationStatus.FAILED:
            assert op is not None
            raise StepError.from_error_object(op.step_details.error if op.step_details else None)
        if status is OperationStatus.PENDING:
            assert op is not None
            op = await _wait_for_retry(execution, identity, op)
            continue
        if status is OperationStatus.STARTED and at_most_once:
            assert op is not None
            error = StepInterruptedError(
                f"step {identity.name or identity.id} attempt {_attempt(op)} was interrupted "
                "before its outcome was recorded; at-most-once semantics forbid running it again"
            )
            op = await _handle_failure(execution, identity, op, error, retry)
            continue
        if status is not OperationStatus.STARTED:
            # New, READY (retry due) or a status steps do not normally have.
            start = identity.update(OperationAction.START)
            if at_most_once:
                await checkpointer.checkpoint(start)
                op = identity.read(execution)
                if op is None or op.status is not OperationStatus.STARTED:
                    execution.fail(
                        DurableError(
                            f"the service did not report step {identity.id} as STARTED after "
                            "its START checkpoint"
                        )
                    )
                    raise execution.fatal  # type: ignore[misc]
            else:
                checkpointer.enqueue(start)
        attempt = _attempt(op) + 1
        step_context = StepContext(identity.id, identity.name, attempt, logger_factory)
        token = _current_step.set(step_context)
        try:
            hooks = _Attempt(execution, identity, attempt) if execution.plugins else None
            value = await _call(fn, args, kwargs, hooks)
        except (NonDeterministicError, TokenRevoked):
            raise
        except Exception as exc:
            op = await _handle_failure(execution, identity, op, exc, retry)
            continue
        finally:
            _current_step.reset(token)
        context = identity.serdes_context(execution)
        try:
            text = serialize(serdes, value, context)
            check_payload_size(text, f"the result of step {identity.name or identity.id}")
            result = deserialize(serdes, text, context) if text is not None else None
        except (SerializationError, ResultTooLargeError) as exc:
            named = type(exc)(f"step {identity.name or identity.id}: {exc}")
            await checkpointer.checkpoint(
                identity.update(OperationAction.FAIL, error=error_object_from_exception(named))
            )
            raise named from exc
        await checkpointer.checkpoint(identity.update(OperationAction.SUCCEED, payload=text))
        return result


def _attempt(op: Operation | None) -> int:
    if op is None or op.step_details is None:
        return 0
    return op.step_details.attempt or 0


async def _handle_failure(
    execution: Execution,
    identity: OperationIdentity,
    op: Operation | None,
    error: Exception,
    retry: RetryPolicy | None,
) -> Operation | None:
    """Checkpoint RETRY (and park until it is due) or FAIL (and raise StepError)."""
    attempts_made = _attempt(op) + 1
    decision = (retry or _DEFAULT_RETRY)(error, attempts_made)
    error_object = error_object_from_exception(error)
    checkpointer = execution.checkpointer
    if decision.should_retry:
        return await retry_later(execution, identity, decision.delay_seconds, error=error_object)
    await checkpointer.checkpoint(identity.update(OperationAction.FAIL, error=error_object))
    raise StepError.from_error_object(error_object) from error


async def retry_later(
    execution: Execution, identity: OperationIdentity, delay_seconds: int, **fields: Any
) -> Operation | None:
    """Checkpoint RETRY with ``fields`` (an error or a state payload) and park until the
    attempt is due; returns the operation as the service then reports it."""
    delay = max(1, int(delay_seconds))  # the service rejects 0 (PROTOCOL §2.2)
    await execution.checkpointer.checkpoint(
        identity.update(
            OperationAction.RETRY,
            step_options=StepOptions(next_attempt_delay_seconds=delay),
            **fields,
        )
    )
    stored = identity.read(execution)
    if stored is None or stored.status is not OperationStatus.PENDING:
        return stored
    return await _wait_for_retry(execution, identity, stored, time.time() + delay)


async def _wait_for_retry(
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
        current = identity.read(execution)
        if current is None or current.status is not OperationStatus.PENDING:
            return current
        op, due = current, time.time() + 1.0
