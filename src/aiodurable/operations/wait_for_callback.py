"""``ctx.wait_for_callback``: a callback and its submitter step in one child context
(docs/protocol.md §6.5)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from aiodurable.duration import Seconds
from aiodurable.errors import (
    CallbackError,
    CallbackSubmitterError,
    ChildContextError,
    StepError,
    registered_error_class,
)
from aiodurable.operations.attempt import StepContext
from aiodurable.operations.callback import callback_result_serdes, callback_timeout_seconds
from aiodurable.operations.child import run_child
from aiodurable.retry import RetryPolicy
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.serdes import ANY_JSON, AnySerdes, JsonSerdes, bind_serdes
from aiodurable.wire.callback_names import callback_wire_name, submitter_wire_name
from aiodurable.wire.identity import OperationIdentity

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

__all__ = ["Submitter", "WaitForCallbackContext", "callback_waiter", "run_wait_for_callback"]

T = TypeVar("T")


class WaitForCallbackContext:
    """The second argument of a submitter declared ``(callback_id, ctx)``, the official
    SDK's shape: what the running submitter step can know about itself.

    Its attributes are read when the submitter reads them, from the step that runs it
    (:meth:`StepContext.current`), so one object serves every attempt.
    """

    __slots__ = ()

    @property
    def logger(self) -> FilteringBoundLogger:
        """The submitter step's logger (bound with its operation id, name and attempt)."""
        return StepContext.current().logger

    @property
    def attempt(self) -> int:
        """The 1-based attempt of the submitter step."""
        return StepContext.current().attempt

    @property
    def operation_id(self) -> str:
        """The id of the submitter step."""
        return StepContext.current().operation_id


_SUBMITTER_CONTEXT = WaitForCallbackContext()

#: What ``wait_for_callback`` accepts: ``submitter(callback_id)``, or the official SDK's
#: ``submitter(callback_id, ctx)``; sync or async.
Submitter = Callable[[str], Any] | Callable[[str, WaitForCallbackContext], Any]


def _takes_context(submitter: Callable[..., Any]) -> bool:
    """Whether ``submitter`` is declared ``(callback_id, ctx)``: two or more required
    positional parameters. ``(callback_id)``, ``(callback_id, retries=3)`` and
    ``(*args)`` get the callback id alone."""
    try:
        params = inspect.signature(submitter).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: the plain form
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in params if p.kind in positional and p.default is p.empty]
    return len(required) >= 2


def callback_waiter(
    submitter: Submitter,
    name: str | None,
    timeout: Seconds | None,
    heartbeat_timeout: Seconds | None,
    retry: RetryPolicy | None,
    result_type: Any,
    serdes: AnySerdes | None,
) -> Callable[[Any], Awaitable[Any]]:
    """The body run in the child context, its arguments validated first."""
    callback_timeout_seconds(timeout, "timeout")
    callback_timeout_seconds(heartbeat_timeout, "heartbeat_timeout")
    result_serdes = callback_result_serdes(result_type, serdes)
    extra: tuple[Any, ...] = (_SUBMITTER_CONTEXT,) if _takes_context(submitter) else ()

    async def body(child: Any) -> Any:
        callback = await child.create_callback(
            name=callback_wire_name(name),
            timeout=timeout,
            heartbeat_timeout=heartbeat_timeout,
            serdes=result_serdes,
        )
        await child.step(
            submitter,
            callback.callback_id,
            *extra,
            name=submitter_wire_name(name),
            retry=retry,
            serdes=ANY_JSON,
        )
        return await callback.result()

    return body


def run_wait_for_callback(
    execution: InvocationState,
    identity: OperationIdentity,
    body: Callable[[Any], Awaitable[Any]],
    make_context: Callable[[bool], Any],
    result_type: Any,
    serdes: AnySerdes | None = None,
) -> Coroutine[Any, Any, Any]:
    """Run ``body`` as the ``WaitForCallback`` child context; its failure raises the
    callback's own error, or ``CallbackSubmitterError`` for a failed submitter. The
    context stores its result through ``serdes`` too (an offloading one keeps a large
    answer out of the checkpoint twice)."""
    return _unwrap_callback_error(
        run_child(
            execution,
            identity,
            body,
            make_context,
            serdes=bind_serdes(serdes, JsonSerdes(result_type) if result_type else ANY_JSON),
            summary=None,
        )
    )


async def _unwrap_callback_error(work: Awaitable[T]) -> T:
    try:
        return await work
    except ChildContextError as exc:
        cls = registered_error_class(exc.error_type)
        if cls is not None and issubclass(cls, CallbackError):
            raise cls(
                exc.message,
                error_type=exc.error_type,
                error_data=exc.error_data,
                stack_trace=exc.stack_trace,
            ) from None
        if cls is StepError:
            raise CallbackSubmitterError(
                exc.message,
                error_type=exc.error_type,
                error_data=exc.error_data,
                stack_trace=exc.stack_trace,
            ) from exc
        raise
