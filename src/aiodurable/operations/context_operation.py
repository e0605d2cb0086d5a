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
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiodurable.errors import error_object_from_exception
from aiodurable.limits import MAX_OPERATION_PAYLOAD_BYTES, payload_bytes
from aiodurable.operations.base import DONE, DurableOperation, Move, OperationIdentity
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.runtime.signals import FATAL_ERRORS
from aiodurable.serdes import AnySerdes, JsonSerdes, to_checkpoint
from aiodurable.wire import (
    ContextOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
)

__all__ = [
    "REPLAY_CHILDREN_THRESHOLD",
    "ContextOperation",
    "UnrecordedContext",
    "RebuildFailure",
    "ended_unrecorded",
    "no_summary",
    "run_context",
    "run_unrecorded",
]

T = TypeVar("T")

# Read for every context and map item: module constants cost less than enum attributes.
_START = OperationAction.START
_SUCCEED = OperationAction.SUCCEED

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


class ContextOperation(DurableOperation[T]):
    """One CONTEXT operation (see the module's state machine).

    ``body(replaying, stored)`` runs the work; ``replaying`` says whether the operation
    was already recorded and ``stored`` is the summary text a ``ReplayChildren`` result
    left. ``summary(result)`` is stored instead of a result over the threshold.
    ``failure(error)`` builds the exception raised for a failure (stored or new),
    ``error_of(exc)`` the error checkpointed for an exception of the body. A result its
    serdes stores no text for comes back as ``None``, or as itself with
    ``keep_unserialized``.
    """

    __slots__ = (
        "body",
        "error_of",
        "failure",
        "keep_unserialized",
        "on_rebuild_failure",
        "serdes",
        "summary",
    )

    WORKING = False

    ENDED = (OperationStatus.SUCCEEDED, OperationStatus.FAILED)

    def __init__(
        self,
        execution: InvocationState,
        identity: OperationIdentity,
        body: Callable[[bool, str | None], Awaitable[T]],
        serdes: AnySerdes,
        summary: Callable[[T], str],
        failure: Callable[[ErrorObject | None], BaseException],
        error_of: Callable[[BaseException], ErrorObject],
        on_rebuild_failure: RebuildFailure,
        keep_unserialized: bool,
        /,
    ) -> None:
        # Positional, the base's fields assigned here: one is built for every context,
        # map item and branch (see run_context for the keywords).
        self.execution = execution
        self.identity = identity
        self.body = body
        self.serdes = serdes
        self.summary = summary
        self.failure = failure
        self.error_of = error_of
        self.on_rebuild_failure = on_rebuild_failure
        self.keep_unserialized = keep_unserialized

    def run_body(self, replaying: bool, stored: str | None) -> Awaitable[T]:
        """The body's work: ``body(replaying, stored)``."""
        return self.body(replaying, stored)

    def body_returned(self) -> None:
        """Called once the body returned, before its result is stored (by default
        nothing)."""

    async def outcome(self, op: Operation) -> T:
        details = op.context_details
        if op.status is OperationStatus.FAILED:
            raise self.failure(details.error if details else None)
        if details is not None and details.replay_children:
            # A large result was stored as a summary: rebuild it by running the body.
            await self.act(op)
            rebuilt: T = self._result
            return rebuilt
        # A context's body is workflow code; its own reads and checkpoints are work that
        # the invocation must not suspend in the middle of.
        with self.execution.scheduler.working(self.identity):
            value: T = await self.read_stored(self.serdes, details.result if details else None)
        return value

    async def act(self, op: Operation | None) -> Move:
        """Run the body; checkpoint its result (or failure) unless it rebuilds a large
        result already recorded (``ReplayChildren``)."""
        execution = self.execution
        identity = self.identity
        if op is None:
            execution.checkpointer.enqueue(identity.update(_START))
        details = op.context_details if op is not None else None
        replay_children = bool(details and details.replay_children)
        recorded_summary = details.result if replay_children and details else None
        working = execution.scheduler.working
        checkpointer = execution.checkpointer
        try:
            work = self.run_body(op is not None, recorded_summary)
            if execution.hooks.enabled:  # no call at all without plugins: one per map item
                work = self.user_code(work, is_replay_children=op is not None)
            result = await work
            self.body_returned()
            if self.serdes.__class__ is JsonSerdes:  # nothing to await: no section needed
                text, replayed = await to_checkpoint(self.serdes, result, self.serdes_context())
            else:
                with working(identity):
                    text, replayed = await to_checkpoint(self.serdes, result, self.serdes_context())
            back: T = result if text is None and self.keep_unserialized else replayed
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            if replay_children and self.on_rebuild_failure is RebuildFailure.RERAISE:
                raise
            error = self.error_of(exc)
            if not replay_children or self.on_rebuild_failure is RebuildFailure.RECORD:
                with working(identity):
                    await checkpointer.checkpoint(
                        identity.update(OperationAction.FAIL, error=error)
                    )
            else:
                self.ended_unrecorded(OperationStatus.FAILED, error)
            raise self.failure(error) from exc
        if replay_children:
            self.ended_unrecorded(OperationStatus.SUCCEEDED, None)
            return self.finish(back)  # rebuilding a large result: already recorded
        if text is not None and payload_bytes(text) > REPLAY_CHILDREN_THRESHOLD:
            stored: str | None = self.summary(result)
            options = ContextOptions(replay_children=True)
        else:
            stored, options = text, ContextOptions(replay_children=False)
        scheduler = execution.scheduler
        task = scheduler.enter(identity, True)  # ``working()`` without its object
        try:
            await checkpointer.checkpoint(
                identity.update(_SUCCEED, payload=stored, context_options=options)
            )
        finally:
            scheduler.exit(task, True)
        self._result = back  # self.finish(back), without a call per map item
        return DONE


def run_context(
    execution: InvocationState,
    identity: OperationIdentity,
    body: Callable[[bool, str | None], Awaitable[T]],
    *,
    serdes: AnySerdes,
    summary: Callable[[T], str],
    failure: Callable[[ErrorObject | None], BaseException],
    error_of: Callable[[BaseException], ErrorObject] = error_object_from_exception,
    on_rebuild_failure: RebuildFailure = RebuildFailure.RERAISE,
    keep_unserialized: bool = False,
) -> Coroutine[Any, Any, T]:
    """Run one CONTEXT operation (a :class:`ContextOperation`)."""
    return ContextOperation(
        execution,
        identity,
        body,
        serdes,
        summary,
        failure,
        error_of,
        on_rebuild_failure,
        keep_unserialized,
    ).run()


def ended_unrecorded(
    execution: InvocationState,
    identity: OperationIdentity,
    status: OperationStatus,
    error: ErrorObject | None,
    *,
    is_replayed: bool | None = None,
) -> None:
    """Tell the plugins that a context ended without a checkpoint of its own (a FLAT
    branch)."""
    UnrecordedContext(execution, identity).ended_unrecorded(status, error, is_replayed=is_replayed)


def run_unrecorded(
    execution: InvocationState, identity: OperationIdentity, work: Awaitable[T]
) -> Awaitable[T]:
    """Await the function of a context that has no checkpoint of its own (a FLAT branch)
    between the user-function hooks."""
    return UnrecordedContext(execution, identity).user_code(work)


class UnrecordedContext(DurableOperation[Any]):
    """A context with no checkpoint of its own (a FLAT branch, a virtual child context):
    only its user-function and end hooks."""

    __slots__ = ()
