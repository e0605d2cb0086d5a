"""``ctx.run_in_child_context``: a group of operations checkpointed as one (PROTOCOL §6.7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiodurable.errors import ChildContextError
from aiodurable.operations.base import OperationIdentity
from aiodurable.operations.lifecycle import no_summary, run_context
from aiodurable.runtime.execution import Execution
from aiodurable.serdes import AnySerdes

__all__ = ["run_child"]

T = TypeVar("T")
C = TypeVar("C")


def run_child(
    execution: Execution,
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
