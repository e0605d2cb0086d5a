"""``ctx.step``: run a function once per attempt, checkpoint its result (docs/protocol.md §6.1)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiodurable._weakcache import weak_memo
from aiodurable.errors import (
    DurableError,
    ResultTooLargeError,
    SerializationError,
    StepError,
    StepInterruptedError,
    error_object_from_exception,
    step_error_from,
)
from aiodurable.operations.attempt import (
    AttemptOperation,
    attempts_made,
    enter_attempt,
    exit_attempt,
)
from aiodurable.operations.base import DONE, LATER, PARK, Move, OperationIdentity
from aiodurable.retry import RetryPolicy, RetryStrategy, StepSemantics
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.runtime.signals import FATAL_ERRORS
from aiodurable.serdes import (
    AnySerdes,
    JsonSerdes,
    Serdes,
    check_payload_size,
    decode_json,
    to_checkpoint,
)
from aiodurable.wire import ErrorObject, Operation, OperationAction, OperationStatus

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

__all__ = ["StepOperation", "serdes_for_function"]

_DEFAULT_RETRY = RetryStrategy.default()

# Read on every step, replays included: module constants cost less than enum attributes.
_SUCCEEDED = OperationStatus.SUCCEEDED
_PENDING = OperationStatus.PENDING
_STARTED = OperationStatus.STARTED
_AT_MOST_ONCE = StepSemantics.AT_MOST_ONCE_PER_RETRY
_START = OperationAction.START
_SUCCEED = OperationAction.SUCCEED


@weak_memo
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


class StepOperation(AttemptOperation[Any]):
    """One ``ctx.step``: START, run an attempt, SUCCEED (or RETRY, or FAIL)."""

    __slots__ = ("args", "attempt_timeout", "fn", "retry", "semantics", "serdes")

    ENDED = (OperationStatus.SUCCEEDED, OperationStatus.FAILED)

    def __init__(
        self,
        execution: InvocationState,
        identity: OperationIdentity,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        retry: RetryPolicy | None,
        semantics: StepSemantics,
        attempt_timeout: float | None,
        serdes: AnySerdes,
        logger_factory: Callable[..., FilteringBoundLogger],
        /,
    ) -> None:
        # Positional, and the base's fields assigned here: one is built for every
        # ``ctx.step`` call, replays included, and keywords or a super() call cost more
        # than the rest of the call.
        self.execution = execution
        self.identity = identity
        self.logger_factory = logger_factory
        self._retry_due = None
        self.fn = fn
        self.args = args
        self.retry = retry
        self.semantics = semantics
        self.attempt_timeout = attempt_timeout
        self.serdes = serdes

    def replayed(self, op: Operation) -> Any:
        if op.status is _SUCCEEDED:
            details = op.step_details
            text = details.result if details else None
            serdes = self.serdes
            if serdes.__class__ is JsonSerdes and text is not None:
                return decode_json(text, serdes.type_)
        return LATER

    async def outcome(self, op: Operation) -> Any:
        details = op.step_details
        if op.status is _SUCCEEDED:
            return await self.read_stored(self.serdes, details.result if details else None)
        recorded = details.error if details else None
        if recorded is not None and recorded.error_type == CANCELLED_ERROR_TYPE:
            # The workflow cancelled this step's task while its body ran (a failed
            # TaskGroup sibling): the replay cancels it at the same point.
            raise asyncio.CancelledError(recorded.error_message)
        raise step_error_from(recorded)

    async def act(self, op: Operation | None) -> Operation | Move | None:
        status = op.status if op is not None else None
        if status is _PENDING:
            return PARK
        execution = self.execution
        identity = self.identity
        checkpointer = execution.checkpointer
        at_most_once = self.semantics is _AT_MOST_ONCE
        if status is _STARTED and at_most_once:
            error = StepInterruptedError(
                f"step {identity.name or identity.id} attempt {attempts_made(op) + 1} was "
                "interrupted before its outcome was recorded; at-most-once semantics forbid "
                "running it again"
            )
            return await self._handle_failure(op, error)
        if status is not _STARTED:
            # New, READY (retry due) or a status steps do not normally have.
            start = identity.update(_START)
            if at_most_once:
                await checkpointer.checkpoint(start)
                op = self.read()
                if op is None or op.status is not _STARTED:
                    unstarted = DurableError(
                        f"the service did not report step {identity.id} as STARTED after "
                        "its START checkpoint"
                    )
                    execution.fail(unstarted)
                    raise unstarted
            else:
                checkpointer.enqueue(start)
        attempt = attempts_made(op) + 1
        token = enter_attempt(identity, attempt, self.logger_factory)
        try:
            value = await self.run_attempt(self.fn, self.args, attempt, self.attempt_timeout)
            fatal = execution.outcome.error
            if fatal is not None:
                # Something ended the invocation while the body ran (a durable call made
                # inside it, which the body may have caught): record no outcome.
                raise fatal
            text, result = await self._checkpoint_text(value)
        except FATAL_ERRORS:
            raise
        except _Unrecordable as exc:
            # Deterministic: another attempt would produce the same value. Fail the step
            # (no retry), so the workflow can catch StepError and take another path.
            failed = error_object_from_exception(exc.error)
            await checkpointer.checkpoint(identity.update(OperationAction.FAIL, error=failed))
            raise StepError.from_error_object(failed) from exc.error
        except Exception as exc:
            return await self._handle_failure(op, exc)
        except asyncio.CancelledError:
            if execution.outcome.running:
                # The workflow itself cancelled the task (not a suspension, which waits
                # for bodies to finish): record it, so no replay runs the body again.
                self._record_cancelled(attempt)
            raise
        finally:
            exit_attempt(token)
        await checkpointer.checkpoint(identity.update(_SUCCEED, payload=text))
        self._result = result  # self.finish(result), without a call on the hot path
        return DONE

    def _record_cancelled(self, attempt: int) -> None:
        identity = self.identity
        error = ErrorObject(
            error_type=CANCELLED_ERROR_TYPE,
            error_message=f"step {identity.name or identity.id} attempt {attempt} was "
            "cancelled by the workflow before it finished",
        )
        with contextlib.suppress(DurableError):  # the invocation already ended
            self.execution.checkpointer.enqueue(identity.update(OperationAction.FAIL, error=error))

    async def _checkpoint_text(self, value: Any) -> tuple[str | None, Any]:
        """The result's checkpoint text and its replayed value, within the service's
        limit."""
        label = self.identity.name or self.identity.id
        try:
            text, result = await to_checkpoint(self.serdes, value, self.serdes_context())
            check_payload_size(text, f"the result of step {label}")
        except ResultTooLargeError as exc:
            raise _Unrecordable(exc) from exc
        except SerializationError as exc:
            raise _Unrecordable(SerializationError(f"step {label}: {exc}")) from exc
        return text, result

    async def _handle_failure(self, op: Operation | None, error: Exception) -> Operation | None:
        """Checkpoint RETRY (the loop parks until it is due) or FAIL (and raise
        StepError)."""
        made = attempts_made(op) + 1
        decision = (self.retry or _DEFAULT_RETRY)(error, made)
        error_object = error_object_from_exception(error)
        if decision.should_retry:
            return await self.retry_later(decision.delay_seconds, error=error_object)
        await self.execution.checkpointer.checkpoint(
            self.identity.update(OperationAction.FAIL, error=error_object)
        )
        raise step_error_from(error_object) from error


#: The error type a step records when the workflow cancelled it mid-attempt.
CANCELLED_ERROR_TYPE = "asyncio.CancelledError"


class _Unrecordable(Exception):
    """The step's result cannot be checkpointed: ``error`` says why."""

    def __init__(self, error: SerializationError | ResultTooLargeError) -> None:
        super().__init__(str(error))
        self.error = error
