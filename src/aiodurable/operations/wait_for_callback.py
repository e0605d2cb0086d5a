"""``ctx.wait_for_callback``: a callback and its submitter step in one child context
(docs/protocol.md §6.5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from aiodurable.errors import (
    CallbackError,
    CallbackSubmitterError,
    ChildContextError,
    StepError,
    registered_error_class,
)
from aiodurable.operations.base import OperationIdentity
from aiodurable.operations.callback import callback_result_serdes, callback_timeout_seconds
from aiodurable.operations.child import run_child
from aiodurable.retry import RetryPolicy
from aiodurable.runtime.execution import Execution
from aiodurable.serdes import ANY_JSON, AnySerdes, JsonSerdes, bind_serdes
from aiodurable.wire.callback_names import callback_wire_name, submitter_wire_name

__all__ = ["callback_waiter", "run_wait_for_callback"]

T = TypeVar("T")


def callback_waiter(
    submitter: Callable[[str], Any],
    name: str | None,
    timeout: float | timedelta | None,
    heartbeat_timeout: float | timedelta | None,
    retry: RetryPolicy | None,
    result_type: Any,
    serdes: AnySerdes | None,
) -> Callable[[Any], Awaitable[Any]]:
    """The body run in the child context, its arguments validated first."""
    callback_timeout_seconds(timeout, "timeout")
    callback_timeout_seconds(heartbeat_timeout, "heartbeat_timeout")
    result_serdes = callback_result_serdes(result_type, serdes)

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
            name=submitter_wire_name(name),
            retry=retry,
            serdes=ANY_JSON,
        )
        return await callback.result()

    return body


def run_wait_for_callback(
    execution: Execution,
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
