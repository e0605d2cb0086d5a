"""The CONTEXT lifecycle shared by child contexts, map/parallel and their branches.

One state machine (docs/protocol.md §6.7, §6.8)::

    read ── SUCCEEDED (result stored) ──────────────▶ stored result
        ├── FAILED ─────────────────────────────────▶ failure(stored error)
        └── new / STARTED / SUCCEEDED (replay children)
              │ START (new only)
              ▼
            body ─▶ serialize ─▶ SUCCEED (a summary above 256 KiB: ReplayChildren)
              └── raises ──────▶ FAIL ─▶ failure(error)

When a large result was stored as a summary (``ReplayChildren``), the body runs again to
rebuild the result from its inner checkpoints and nothing is checkpointed on success.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiodurable.errors import error_object_from_exception
from aiodurable.limits import MAX_OPERATION_PAYLOAD_BYTES, payload_bytes
from aiodurable.operations.base import (
    OperationIdentity,
    read_operation,
    read_stored,
    serdes_context_of,
)
from aiodurable.runtime.execution import Execution
from aiodurable.runtime.signals import FATAL_ERRORS
from aiodurable.serdes import AnySerdes, to_checkpoint
from aiodurable.wire import ContextOptions, ErrorObject, OperationAction, OperationStatus

__all__ = [
    "REPLAY_CHILDREN_THRESHOLD",
    "RebuildFailure",
    "ended_unrecorded",
    "no_summary",
    "run_context",
    "run_unrecorded",
]

T = TypeVar("T")

#: Results over this many bytes of UTF-8 (the service's per-operation limit, measured as
#: the service measures it) are not stored: the body is run again on replay and its inner
#: operations replay from their checkpoints.
REPLAY_CHILDREN_THRESHOLD = MAX_OPERATION_PAYLOAD_BYTES


class RebuildFailure(enum.Enum):
    """What a body failing while it rebuilds a large (``ReplayChildren``) result does."""

    #: Re-raise the body's own exception (child contexts).
    RERAISE = "reraise"
    #: Raise ``failure(error)`` without checkpointing (map/parallel branches).
    REPORT = "report"
    #: Checkpoint FAIL, then raise ``failure(error)`` (map/parallel as a whole).
    RECORD = "record"


def no_summary(_value: object) -> str:
    """The summary of a large result that records nothing but ``ReplayChildren``."""
    return ""


async def run_context(
    execution: Execution,
    identity: OperationIdentity,
    body: Callable[[bool, str | None], Awaitable[T]],
    *,
    serdes: AnySerdes,
    summary: Callable[[T], str],
    failure: Callable[[ErrorObject | None], BaseException],
    error_of: Callable[[BaseException], ErrorObject] = error_object_from_exception,
    on_rebuild_failure: RebuildFailure = RebuildFailure.RERAISE,
    keep_unserialized: bool = False,
) -> T:
    """Run one CONTEXT operation.

    ``body(replaying, stored)`` runs the work; ``replaying`` says whether the operation
    was already recorded and ``stored`` is the summary text a ``ReplayChildren`` result
    left. ``summary(result)`` is stored instead of a result over the threshold.
    ``failure(error)`` builds the exception raised for a failure (stored or new),
    ``error_of(exc)`` the error checkpointed for an exception of the body. A result its
    serdes stores no text for comes back as ``None``, or as itself with
    ``keep_unserialized``.
    """
    context = serdes_context_of(execution, identity)
    op = read_operation(execution, identity)
    details = op.context_details if op is not None else None
    replay_children = bool(details and details.replay_children)
    # A context's body is workflow code; its own reads and checkpoints are work that
    # the invocation must not suspend in the middle of.
    working = execution.scheduler.working
    if op is not None and op.status is OperationStatus.SUCCEEDED and not replay_children:
        with working(identity):
            value: T = await read_stored(
                execution, serdes, details.result if details else None, context
            )
        return value
    if op is not None and op.status is OperationStatus.FAILED:
        raise failure(details.error if details else None)
    checkpointer = execution.checkpointer
    if op is None:
        checkpointer.enqueue(identity.update(OperationAction.START))
    hooks = execution.hooks
    try:
        recorded_summary = details.result if replay_children and details else None
        work = body(op is not None, recorded_summary)
        if hooks.enabled:
            work = run_user_function(execution, identity, work, is_replay_children=op is not None)
        result = await work
        with working(identity):
            text, replayed = await to_checkpoint(serdes, result, context)
        back: T = result if text is None and keep_unserialized else replayed
    except FATAL_ERRORS:
        raise
    except Exception as exc:
        if replay_children and on_rebuild_failure is RebuildFailure.RERAISE:
            raise
        error = error_of(exc)
        if not replay_children or on_rebuild_failure is RebuildFailure.RECORD:
            with working(identity):
                await checkpointer.checkpoint(identity.update(OperationAction.FAIL, error=error))
        elif hooks.enabled:
            ended_unrecorded(execution, identity, OperationStatus.FAILED, error)
        raise failure(error) from exc
    if replay_children:
        if hooks.enabled:
            ended_unrecorded(execution, identity, OperationStatus.SUCCEEDED, None)
        return back  # rebuilding a large result: it is already recorded
    if text is not None and payload_bytes(text) > REPLAY_CHILDREN_THRESHOLD:
        stored: str | None = summary(result)
        options = ContextOptions(replay_children=True)
    else:
        stored, options = text, ContextOptions(replay_children=False)
    with working(identity):
        await checkpointer.checkpoint(
            identity.update(OperationAction.SUCCEED, payload=stored, context_options=options)
        )
    return back


def ended_unrecorded(
    execution: Execution,
    identity: OperationIdentity,
    status: OperationStatus,
    error: ErrorObject | None,
    *,
    is_replayed: bool | None = None,
) -> None:
    """Tell the plugins that a context ended without a checkpoint of its own."""
    execution.hooks.context_ended(identity, status, error, is_replayed=is_replayed)


async def run_user_function(
    execution: Execution,
    identity: OperationIdentity,
    work: Awaitable[T],
    *,
    is_replay_children: bool = False,
) -> T:
    """Await a context's function between the plugins' user-function hooks."""
    hooks = execution.hooks
    if not hooks.enabled:
        return await work
    with hooks.user_function(identity, is_replay_children=is_replay_children):
        return await work


async def run_unrecorded(
    execution: Execution, identity: OperationIdentity, work: Awaitable[T]
) -> T:
    """Await the function of a context that has no checkpoint of its own (a FLAT branch,
    a virtual child context) between the user-function hooks."""
    return await run_user_function(execution, identity, work)
