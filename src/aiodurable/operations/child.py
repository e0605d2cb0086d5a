"""``ctx.run_in_child_context``: a group of operations checkpointed as one (PROTOCOL §6.7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiodurable.errors import (
    CheckpointError,
    ChildContextError,
    NonDeterministicError,
    SerializationError,
    error_object_from_exception,
)
from aiodurable.operations.base import OperationIdentity
from aiodurable.runtime.checkpointer import TokenRevoked
from aiodurable.runtime.execution import Execution
from aiodurable.serdes import Serdes, deserialize, serialize
from aiodurable.wire import ContextOptions, ErrorObject, OperationAction, OperationStatus

__all__ = ["REPLAY_CHILDREN_THRESHOLD", "run_child", "FATAL_ERRORS"]

T = TypeVar("T")
C = TypeVar("C")

#: Results longer than this (characters of serialized text) are not stored: the body is
#: run again on replay and its inner operations replay from their checkpoints.
REPLAY_CHILDREN_THRESHOLD = 256 * 1024

#: Errors that end the invocation rather than fail an operation.
FATAL_ERRORS: tuple[type[BaseException], ...] = (
    NonDeterministicError,
    TokenRevoked,
    CheckpointError,
)


async def run_child(
    execution: Execution,
    identity: OperationIdentity,
    body: Callable[[C], Awaitable[T]],
    make_context: Callable[[bool], C],
    *,
    serdes: Serdes[Any],
    summary: Callable[[Any], str] | None,
    error_wrapper: type[ChildContextError] = ChildContextError,
) -> T:
    """Run ``body`` in a child context created by ``make_context(replaying)``."""
    context = identity.serdes_context(execution)
    op = identity.read(execution)
    details = op.context_details if op is not None else None
    replay_children = bool(details and details.replay_children)
    if op is not None and op.status is OperationStatus.SUCCEEDED and not replay_children:
        value: T = deserialize(serdes, details.result if details else None, context)
        return value
    if op is not None and op.status is OperationStatus.FAILED:
        raise error_wrapper.from_error_object(details.error if details else None)
    checkpointer = execution.checkpointer
    if op is None:
        checkpointer.enqueue(identity.update(OperationAction.START))
    child = make_context(op is not None)
    try:
        result = await body(child)
        text = serialize(serdes, result, context)
        back: T = deserialize(serdes, text, context) if text is not None else None  # type: ignore[assignment]
    except FATAL_ERRORS:
        raise
    except Exception as exc:
        if replay_children:
            raise
        error = error_object_from_exception(exc)
        await checkpointer.checkpoint(identity.update(OperationAction.FAIL, error=error))
        raise _wrap(error_wrapper, error) from exc
    if replay_children:
        return back  # rebuilding a large result: it is already recorded
    if text is not None and len(text) > REPLAY_CHILDREN_THRESHOLD:
        stored: str | None = summary(result) if summary is not None else ""
        options = ContextOptions(replay_children=True)
    else:
        stored, options = text, ContextOptions(replay_children=False)
    try:
        await checkpointer.checkpoint(
            identity.update(OperationAction.SUCCEED, payload=stored, context_options=options)
        )
    except SerializationError:
        raise
    return back


def _wrap(wrapper: type[ChildContextError], error: ErrorObject) -> ChildContextError:
    return wrapper.from_error_object(error)
