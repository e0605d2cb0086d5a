"""``ctx.map`` and ``ctx.parallel``: bounded fan-out with completion policies
(docs/protocol.md §6.8).

Each branch is an asyncio task in one task group per operation: no threads, and no
branch outlives the operation. ``max_concurrency`` bounds branches *in flight*: a branch
parked on a wait or a callback keeps its slot. Once the completion policy is decided the
branches still in flight are cancelled and reported as ``STARTED``. The operation and
each nested branch follow the CONTEXT lifecycle of :mod:`aiodurable.operations.context_operation`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import msgspec

from aiodurable.errors import (
    ChildContextError,
    DurableOperationError,
    ValidationError,
    error_object_from_exception,
)
from aiodurable.operations.base import OperationIdentity
from aiodurable.operations.batch_result import (
    BatchItem,
    BatchItemStatus,
    BatchProgress,
    BatchResult,
    CompletionConfig,
    NamedBranch,
    Nesting,
)
from aiodurable.operations.context_operation import (
    ContextOperation,
    RebuildFailure,
    ended_unrecorded,
    no_summary,
    run_context,
    run_unrecorded,
)
from aiodurable.operations.scope import run_completing
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.runtime.operation_ids import branch_id
from aiodurable.runtime.signals import FATAL_ERRORS
from aiodurable.serdes import (
    AnySerdes,
    JsonSerdes,
    SerdesContext,
    bind_serdes,
    encode_json,
    to_checkpoint,
)
from aiodurable.wire import ErrorObject, OperationStatus, OperationType

__all__ = [
    "BranchSpec",
    "map_specs",
    "parallel_specs",
    "run_batch",
    "validate_batch",
]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
C = TypeVar("C")

# Built for every branch: the members themselves, not their strings to look up.
_SUCCEEDED = BatchItemStatus.SUCCEEDED
_FAILED = BatchItemStatus.FAILED
_STARTED = BatchItemStatus.STARTED


@dataclass(frozen=True, slots=True)
class BranchSpec:
    name: str
    run: Callable[[Any], Awaitable[Any]]


class _Summary(msgspec.Struct, rename="camel", omit_defaults=True):
    type: str
    total_count: int
    completion_reason: str
    started_indexes: list[int] | None = None
    completed_indexes: list[int] | None = None


def validate_batch(count: int, max_concurrency: int | None, completion: CompletionConfig) -> None:
    if max_concurrency is not None and max_concurrency < 1:
        raise ValidationError(
            f"max_concurrency must be at least 1 (or None), got {max_concurrency}"
        )
    if completion.min_successful is not None and completion.min_successful > count:
        raise ValidationError(
            f"min_successful={completion.min_successful} exceeds the {count} items"
        )


def parallel_specs(
    branches: Iterable[Callable[[Any], Awaitable[Any]] | NamedBranch[Any]],
) -> list[BranchSpec]:
    """One spec per parallel branch, named ``parallel-branch-<i>`` unless it has a name."""
    return [
        BranchSpec(b.name, b.fn)
        if isinstance(b, NamedBranch)
        else BranchSpec(f"parallel-branch-{i}", b)
        for i, b in enumerate(branches)
    ]


def map_specs(
    items: Sequence[I],
    fn: Callable[[Any, I, int], Awaitable[Any]],
    item_namer: Callable[[I, int], str] | None,
) -> list[BranchSpec]:
    """One spec per map item: ``fn(child_ctx, item, index)``, named ``map-item-<i>``
    unless ``item_namer`` names it."""

    def runner(item: I, index: int) -> Callable[[Any], Awaitable[Any]]:
        return lambda child: fn(child, item, index)

    return [
        BranchSpec(item_namer(item, i) if item_namer else f"map-item-{i}", runner(item, i))
        for i, item in enumerate(items)
    ]


def run_batch(
    execution: InvocationState,
    identity: OperationIdentity,
    branches: Sequence[BranchSpec],
    make_context: Callable[[str | None, str, bool], C],
    *,
    kind: Literal["Map", "Parallel"],
    max_concurrency: int | None,
    completion: CompletionConfig,
    nesting: Nesting,
    serdes: AnySerdes | None,
    item_serdes: AnySerdes,
    result_type: Any,
) -> Coroutine[Any, Any, BatchResult[Any]]:
    """Run the branches; ``make_context(parent_id, id_prefix, replaying)`` builds their
    contexts."""
    item_type = "MapIteration" if kind == "Map" else "ParallelBranch"

    def body(replaying: bool, stored: str | None) -> Awaitable[BatchResult[Any]]:
        recorded: _Summary | None = None
        if stored:
            try:
                recorded = msgspec.json.decode(stored, type=_Summary)
            except msgspec.DecodeError:
                recorded = None
        coordinator = _Coordinator(
            execution,
            identity,
            branches,
            make_context,
            item_type,
            nesting,
            item_serdes,
            max_concurrency,
            completion,
            replaying,
        )
        return coordinator.run(recorded)

    return run_context(
        execution,
        identity,
        body,
        serdes=bind_serdes(serdes, JsonSerdes(BatchResult[result_type])),
        summary=lambda result: _summary_text(kind, result),
        failure=ChildContextError.from_error_object,
        on_rebuild_failure=RebuildFailure.RECORD,
        keep_unserialized=True,
    )


def _summary_text(kind: str, result: BatchResult[Any]) -> str:
    started = [item.index for item in result.all if item.status == "STARTED"]
    completed = [item.index for item in result.all if item.status != "STARTED"]
    body: dict[str, Any] = {
        "type": f"{kind}Result",
        "totalCount": result.total_count,
        "completionReason": result.completion_reason,
        "startedCount": result.started_count,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "status": result.status,
    }
    if len(started) <= len(completed):
        body["startedIndexes"] = started
    else:
        body["completedIndexes"] = completed
    return encode_json(body)


class _Coordinator:
    def __init__(
        self,
        execution: InvocationState,
        identity: OperationIdentity,
        branches: Sequence[BranchSpec],
        make_context: Callable[[str | None, str, bool], Any],
        item_type: str,
        nesting: Nesting,
        item_serdes: AnySerdes,
        max_concurrency: int | None,
        completion: CompletionConfig,
        replaying: bool,
    ) -> None:
        self.execution = execution
        self.identity = identity
        self.branches = branches
        self.make_context = make_context
        self.item_type = item_type
        self.nesting = nesting
        self.item_serdes = item_serdes
        self.limit = max_concurrency or max(1, len(branches))
        #: Refill a freed slot at once when nothing can end the batch early: which
        #: branches start cannot change the result then (see :meth:`_schedule`).
        self.eager = not completion.can_complete_early(len(branches))
        self.completion = completion
        self.replaying = replaying
        self.items: dict[int, BatchItem[Any]] = {}
        self.successes = 0
        self.failures = 0
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.recorded: _Summary | None = None
        self._wake: asyncio.Future[None] | None = None
        #: Outcomes of finished branches, not counted yet (see :meth:`_settle`).
        self._finished: dict[int, BatchItem[Any]] = {}
        self._completed: list[BatchItem[Any]] = []
        self._reason: str | None = None
        self._error: Exception | None = None
        self._group: asyncio.TaskGroup | None = None
        self._context = contextvars.Context()
        self._pending: Iterator[int] = iter(())

    async def run(self, recorded: _Summary | None) -> BatchResult[Any]:
        total = len(self.branches)
        indexes = self._recorded_indexes(recorded) if recorded is not None else list(range(total))
        self.recorded = recorded
        self._pending = iter(indexes)
        try:
            await self._schedule()
        except BaseExceptionGroup as group_error:
            # A fatal error (non-determinism, checkpoint failure) escaped a branch.
            raise group_error.exceptions[0] from None
        if self._error is not None:
            raise self._error
        return self._result(recorded, total)

    async def _schedule(self) -> None:
        """Start branches and wait until the batch is decided.

        Branch outcomes are counted only in :meth:`_settle`, when every task of the
        invocation is parked, in index order. What completed by then, and so which
        branches started and what the result says, follows from the inputs, the
        branches' durable state and ``max_concurrency`` — not from the order in which
        tasks (or worker threads) happened to finish. The price: with fewer slots than
        branches, a freed slot waits for that moment, so a slow branch delays the
        refill. When the policy cannot end the batch before every branch completed
        (``all_completed()``), slots are refilled at once instead.
        """
        execution = self.execution
        # Branches are started from settlers, which run in whichever task parked last
        # (possibly inside a step's retry): each branch gets a copy of the batch's context.
        self._context = contextvars.copy_context()
        async with asyncio.TaskGroup() as group:
            self._group = group
            execution.scheduler.add_settler(self._settle)
            try:
                if self.recorded is not None or not self._decide():
                    self._admit()
                while self._reason is None and self._error is None and self.in_flight:
                    self._wake = asyncio.get_running_loop().create_future()
                    await execution.park(wake=self._wake)
            finally:
                execution.scheduler.remove_settler(self._settle)
                self._group = None
                for task in self.in_flight.values():
                    task.cancel()

    def _progress(self) -> BatchProgress:
        return BatchProgress(
            total_count=len(self.branches),
            success_count=self.successes,
            failure_count=self.failures,
            in_flight_count=len(self.in_flight),
            completed=tuple(self._completed),
            in_flight=tuple(self.in_flight),
            branches=self.branches,
        )

    def _decide(self) -> bool:
        """Ask the completion policy (not on a recorded replay); True once decided."""
        if self.recorded is None and self._reason is None:
            try:
                self._reason = self.completion.outcome(
                    self.successes, self.failures, len(self.branches), self._progress
                )
            except FATAL_ERRORS:
                raise
            except Exception as exc:  # a user predicate failed: the operation fails
                self._error = exc
                return True
        return self._reason is not None

    def _admit(self) -> None:
        group = self._group
        while group is not None and len(self.in_flight) < self.limit:
            index = next(self._pending, None)
            if index is None:
                return
            self._start(group, index)

    def _settle(self) -> None:
        """Count the outcomes of finished branches, in index order, one at a time."""
        if not self._finished:
            return
        for index in sorted(self._finished):
            item = self._finished.pop(index)
            self.in_flight.pop(index, None)
            self.items[index] = item
            self._completed.append(item)
            if item.status is _SUCCEEDED:
                self.successes += 1
            else:
                self.failures += 1
            # Once decided, outcomes already in are kept, but the reason stays.
            if not self._decide():
                self._admit()
        if self._reason is not None or self._error is not None or not self.in_flight:
            wake, self._wake = self._wake, None
            if wake is not None:
                self.execution.wake(wake)

    def _result(self, recorded: _Summary | None, total: int) -> BatchResult[Any]:
        completion = self.completion
        if recorded is not None:
            reason = recorded.completion_reason
        else:
            reason = self._reason or completion.reason(self.successes, self.failures, total)
        if recorded is not None:
            for index in self._recorded_started(recorded):
                self.items[index] = BatchItem(index=index, status=_STARTED)
        for index in self.in_flight:
            self.items[index] = BatchItem(index=index, status=_STARTED)
        ordered = [self.items[i] for i in sorted(self.items)]
        return BatchResult(all=ordered, completion_reason=reason)

    def _recorded_started(self, recorded: _Summary) -> list[int]:
        if recorded.started_indexes is not None:
            return recorded.started_indexes
        completed = set(recorded.completed_indexes or [])
        return [i for i in range(recorded.total_count) if i not in completed]

    def _recorded_indexes(self, recorded: _Summary) -> list[int]:
        started = set(self._recorded_started(recorded))
        return [i for i in range(recorded.total_count) if i not in started]

    def _start(self, group: asyncio.TaskGroup, index: int) -> None:
        task = group.create_task(
            self._branch(index), name=f"aiodurable-branch-{index}", context=self._context.copy()
        )
        self.in_flight[index] = task

    async def _branch(self, index: int) -> None:
        """One task of the batch: run branch ``index``, keep its item for the settler."""
        spec = self.branches[index]
        parent = self.identity.id
        bid = branch_id(parent, index)
        item: BatchItem[Any]
        if self.nesting is Nesting.FLAT:
            item = await self._flat_branch(index, spec, parent, bid)
        else:
            identity = OperationIdentity(
                bid, OperationType.CONTEXT, self.item_type, spec.name, parent
            )
            try:
                result = await _NestedBranch(self, identity, spec).run()
            except _BranchFailed as failed:
                item = BatchItem(index=index, status=_FAILED, error=failed.error)
            else:
                item = BatchItem(index=index, status=_SUCCEEDED, result=result)
        self._finished[index] = item
        if self.eager:
            self.in_flight.pop(index, None)
            self._admit()

    async def _flat_branch(
        self, index: int, spec: BranchSpec, parent: str, bid: str
    ) -> BatchItem[Any]:
        """A FLAT branch: its operations sit directly under the batch, with no CONTEXT of
        its own."""
        execution = self.execution
        # Each item its own name: an offloading item serdes keeps one object per item.
        serdes_context = SerdesContext(operation_id=bid, durable_execution_arn=execution.arn)
        if bid in execution.operations:
            execution.nondeterminism(
                f"branch {index} of {parent} was recorded NESTED but now runs FLAT"
            )
        child = self.make_context(parent, bid, self.replaying)
        identity = OperationIdentity(bid, OperationType.CONTEXT, self.item_type, spec.name, parent)
        try:
            value = await run_unrecorded(execution, identity, run_completing(spec.run, child))
            if self.item_serdes.__class__ is JsonSerdes:  # nothing to await
                _, result = await to_checkpoint(self.item_serdes, value, serdes_context)
            else:
                with execution.scheduler.working(identity):
                    _, result = await to_checkpoint(self.item_serdes, value, serdes_context)
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            error = _inner_error(exc)
            if execution.hooks.enabled:
                ended_unrecorded(execution, identity, OperationStatus.FAILED, error)
            return BatchItem(index=index, status=_FAILED, error=error)
        if execution.hooks.enabled:
            ended_unrecorded(execution, identity, OperationStatus.SUCCEEDED, None)
        return BatchItem(index=index, status=_SUCCEEDED, result=result)


class _NestedBranch(ContextOperation[Any]):
    """One NESTED branch: a CONTEXT whose body is the branch's function, run in a child
    context of its own (a class rather than a closure: one is built per map item)."""

    __slots__ = ("batch", "child", "spec")

    def __init__(self, batch: _Coordinator, identity: OperationIdentity, spec: BranchSpec) -> None:
        self.execution = batch.execution
        self.identity = identity
        self.serdes = batch.item_serdes
        self.summary = no_summary
        self.failure = _BranchFailed
        self.error_of = _inner_error
        self.on_rebuild_failure = RebuildFailure.REPORT
        self.keep_unserialized = False
        self.batch = batch
        self.spec = spec
        self.child: Any = None

    def run_body(self, replaying: bool, stored: str | None) -> Awaitable[Any]:
        bid = self.identity.id
        self.child = child = self.batch.make_context(bid, bid, replaying)
        return self.spec.run(child)

    def body_returned(self) -> None:
        # What run_completing does, without a coroutine of its own per item.
        self.child._ensure_all_visited()


class _BranchFailed(Exception):
    """A nested branch failed (now or before): its item records ``error``."""

    def __init__(self, error: ErrorObject | None) -> None:
        super().__init__()
        self.error = error


def _inner_error(exc: BaseException) -> ErrorObject:
    """A branch's error records the inner type, not the SDK wrapper (docs/protocol.md §6.8)."""
    error = error_object_from_exception(exc)
    if isinstance(exc, DurableOperationError) and exc.error_type:
        return ErrorObject(
            error_type=exc.error_type,
            error_message=exc.message,
            error_data=exc.error_data,
            stack_trace=exc.stack_trace,
        )
    return error
