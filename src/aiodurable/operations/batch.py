"""``ctx.map`` and ``ctx.parallel``: bounded fan-out with completion policies (§6.8).

Each branch is an asyncio task in one task group per operation: no threads, and no
branch outlives the operation. ``max_concurrency`` bounds branches *in flight*: a branch
parked on a wait or a callback keeps its slot. Once the completion policy is decided the
branches still in flight are cancelled and reported as ``STARTED``.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec

from aiodurable.errors import (
    ChildContextError,
    DurableOperationError,
    ValidationError,
    error_object_from_exception,
)
from aiodurable.operations.base import OperationIdentity
from aiodurable.operations.child import FATAL_ERRORS, REPLAY_CHILDREN_THRESHOLD
from aiodurable.runtime.execution import Execution
from aiodurable.runtime.operation_ids import branch_id
from aiodurable.serdes import JsonSerdes, Serdes, decode_json, deserialize, encode_json, serialize
from aiodurable.wire import (
    ContextOptions,
    ErrorObject,
    OperationAction,
    OperationStatus,
    OperationType,
)

__all__ = [
    "BatchItem",
    "BatchResult",
    "CompletionConfig",
    "NamedBranch",
    "Nesting",
    "run_batch",
]

T = TypeVar("T")
C = TypeVar("C")

ItemStatus = Literal["SUCCEEDED", "FAILED", "STARTED"]


class Nesting(enum.Enum):
    #: Each branch is a checkpointed CONTEXT (``MapIteration`` / ``ParallelBranch``).
    """How branch operations are recorded: each in its own context, or flat."""

    NESTED = "NESTED"
    #: Branch operations sit directly under the map/parallel context.
    FLAT = "FLAT"


@dataclass(frozen=True)
class CompletionConfig:
    """When a map or parallel is done.

    ``min_successful``: done once this many branches succeeded. ``tolerated_failure_count``
    / ``tolerated_failure_percentage`` (of all items): done, with reason
    ``FAILURE_TOLERANCE_EXCEEDED``, once failures exceed them. With no field set the
    first failure ends the operation.
    """

    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: float | None = None

    def __post_init__(self) -> None:
        if self.min_successful is not None and self.min_successful < 1:
            raise ValidationError(f"min_successful must be at least 1, got {self.min_successful}")
        if self.tolerated_failure_count is not None and self.tolerated_failure_count < 0:
            raise ValidationError("tolerated_failure_count must not be negative")
        pct = self.tolerated_failure_percentage
        if pct is not None and not 0 <= pct <= 100:
            raise ValidationError(f"tolerated_failure_percentage must be 0-100, got {pct}")

    @classmethod
    def first_successful(cls) -> CompletionConfig:
        """Done as soon as one branch succeeded."""
        return cls(min_successful=1)

    @classmethod
    def all_completed(cls) -> CompletionConfig:
        """Run every branch, whatever fails."""
        return cls(tolerated_failure_percentage=100)

    @classmethod
    def all_successful(cls) -> CompletionConfig:
        """Every branch must succeed: the first failure ends the operation."""
        return cls(tolerated_failure_count=0, tolerated_failure_percentage=0)

    def exceeded(self, failures: int, total: int) -> bool:
        """Whether ``failures`` out of ``total`` items exceed the tolerance."""
        count, pct = self.tolerated_failure_count, self.tolerated_failure_percentage
        if count is None and pct is None:
            return failures > 0 and self.min_successful is None
        if count is not None and failures > count:
            return True
        return pct is not None and total > 0 and failures / total * 100 > pct

    def complete(self, successes: int, failures: int, total: int) -> bool:
        """Whether the operation is done with these counts."""
        if successes + failures >= total:
            return True
        return self.min_successful is not None and successes >= self.min_successful

    def reason(self, successes: int, failures: int, total: int) -> str:
        """The completion reason recorded for these counts."""
        if self.exceeded(failures, total):
            return "FAILURE_TOLERANCE_EXCEEDED"
        if successes + failures >= total:
            return "ALL_COMPLETED"
        if self.min_successful is not None and successes >= self.min_successful:
            return "MIN_SUCCESSFUL_REACHED"
        return "ALL_COMPLETED"


class BatchItem(msgspec.Struct, Generic[T], rename="camel", omit_defaults=True):
    """One started branch: its index, status, and result or error."""

    index: int
    status: ItemStatus
    result: T | None = None
    error: ErrorObject | None = None


class BatchResult(msgspec.Struct, Generic[T], rename="camel"):
    """The outcome of a map or parallel: the started branches in index order."""

    all: list[BatchItem[T]]
    completion_reason: str

    @property
    def status(self) -> Literal["SUCCEEDED", "FAILED"]:
        """``FAILED`` if any branch failed, else ``SUCCEEDED``."""
        return "FAILED" if self.has_failure else "SUCCEEDED"

    def succeeded(self) -> list[BatchItem[T]]:
        """The items of the branches that succeeded."""
        return [item for item in self.all if item.status == "SUCCEEDED"]

    def failed(self) -> list[BatchItem[T]]:
        """The items of the branches that failed."""
        return [item for item in self.all if item.status == "FAILED"]

    def started(self) -> list[BatchItem[T]]:
        """The items of branches still running when the operation completed."""
        return [item for item in self.all if item.status == "STARTED"]

    def get_results(self) -> list[T | None]:
        """Results of the succeeded branches, in index order."""
        return [item.result for item in self.all if item.status == "SUCCEEDED"]

    def get_errors(self) -> list[ErrorObject]:
        """The errors of the failed branches, in index order."""
        return [item.error or ErrorObject() for item in self.all if item.status == "FAILED"]

    def throw_if_error(self) -> None:
        """Raise ``ChildContextError`` for the first failed branch, if any."""
        for item in self.all:
            if item.status == "FAILED":
                raise ChildContextError.from_error_object(item.error)

    @property
    def has_failure(self) -> bool:
        """Whether any branch failed."""
        return any(item.status == "FAILED" for item in self.all)

    @property
    def success_count(self) -> int:
        """How many branches succeeded."""
        return sum(item.status == "SUCCEEDED" for item in self.all)

    @property
    def failure_count(self) -> int:
        """How many branches failed."""
        return sum(item.status == "FAILED" for item in self.all)

    @property
    def started_count(self) -> int:
        """How many branches were still running at completion."""
        return sum(item.status == "STARTED" for item in self.all)

    @property
    def total_count(self) -> int:
        """How many branches were started (never-started ones are not counted)."""
        return len(self.all)


@dataclass(frozen=True)
class NamedBranch(Generic[T]):
    """A parallel branch with a name of its own."""

    name: str
    fn: Callable[[Any], Awaitable[T]]


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


BatchBody = Callable[[Any], Awaitable[Any]]


def validate_batch(count: int, max_concurrency: int | None, completion: CompletionConfig) -> None:
    if max_concurrency is not None and max_concurrency < 1:
        raise ValidationError(
            f"max_concurrency must be at least 1 (or None), got {max_concurrency}"
        )
    if completion.min_successful is not None and completion.min_successful > count:
        raise ValidationError(
            f"min_successful={completion.min_successful} exceeds the {count} items"
        )


async def run_batch(
    execution: Execution,
    identity: OperationIdentity,
    branches: Sequence[BranchSpec],
    make_context: Callable[[str | None, str, bool], C],
    *,
    kind: Literal["Map", "Parallel"],
    max_concurrency: int | None,
    completion: CompletionConfig,
    nesting: Nesting,
    serdes: Serdes[Any] | None,
    item_serdes: Serdes[Any],
    result_type: Any,
) -> BatchResult[Any]:
    """Run the branches; ``make_context(parent_id, id_prefix, replaying)`` builds their
    contexts."""
    context = identity.serdes_context(execution)
    whole_serdes: Serdes[Any] = serdes or JsonSerdes(BatchResult[result_type])
    op = identity.read(execution)
    details = op.context_details if op is not None else None
    replay_children = bool(details and details.replay_children)
    if op is not None and op.status is OperationStatus.SUCCEEDED and not replay_children:
        value: BatchResult[Any] = deserialize(
            whole_serdes, details.result if details else None, context
        )
        return value
    if op is not None and op.status is OperationStatus.FAILED:
        raise ChildContextError.from_error_object(details.error if details else None)
    checkpointer = execution.checkpointer
    if op is None:
        checkpointer.enqueue(identity.update(OperationAction.START))
    recorded: _Summary | None = None
    if replay_children and details is not None and details.result:
        try:
            recorded = msgspec.json.decode(details.result, type=_Summary)
        except msgspec.DecodeError:
            recorded = None
    item_type = "MapIteration" if kind == "Map" else "ParallelBranch"
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
        op is not None,
    )
    try:
        result = await coordinator.run(recorded)
        text = serialize(whole_serdes, result, context)
        back: BatchResult[Any] = (
            deserialize(whole_serdes, text, context) if text is not None else result
        )
    except FATAL_ERRORS:
        raise
    except Exception as exc:
        error = error_object_from_exception(exc)
        await checkpointer.checkpoint(identity.update(OperationAction.FAIL, error=error))
        raise ChildContextError.from_error_object(error) from exc
    if replay_children:
        return back
    if text is not None and len(text) > REPLAY_CHILDREN_THRESHOLD:
        stored: str | None = _summary_text(kind, result)
        options = ContextOptions(replay_children=True)
    else:
        stored, options = text, ContextOptions(replay_children=False)
    await checkpointer.checkpoint(
        identity.update(OperationAction.SUCCEED, payload=stored, context_options=options)
    )
    return back


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
        execution: Execution,
        identity: OperationIdentity,
        branches: Sequence[BranchSpec],
        make_context: Callable[[str | None, str, bool], Any],
        item_type: str,
        nesting: Nesting,
        item_serdes: Serdes[Any],
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
        self.completion = completion
        self.replaying = replaying
        self.items: dict[int, BatchItem[Any]] = {}
        self.successes = 0
        self.failures = 0
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.recorded: _Summary | None = None
        self._wake: asyncio.Future[None] | None = None

    async def run(self, recorded: _Summary | None) -> BatchResult[Any]:
        total = len(self.branches)
        indexes = self._recorded_indexes(recorded) if recorded is not None else list(range(total))
        self.recorded = recorded
        pending = iter(indexes)
        try:
            await self._schedule(pending, total)
        except BaseExceptionGroup as group_error:
            # A fatal error (non-determinism, checkpoint failure) escaped a branch.
            raise group_error.exceptions[0] from None
        return self._result(recorded, total)

    async def _schedule(self, pending: Any, total: int) -> None:
        completion = self.completion
        exhausted = False
        recorded = self.recorded
        async with asyncio.TaskGroup() as group:
            try:
                while True:
                    done = recorded is None and (
                        completion.exceeded(self.failures, total)
                        or completion.complete(self.successes, self.failures, total)
                    )
                    if done:
                        break
                    while not exhausted and len(self.in_flight) < self.limit:
                        index = next(pending, None)
                        if index is None:
                            exhausted = True
                            break
                        self._start(group, index)
                    if not self.in_flight:
                        break
                    loop = asyncio.get_running_loop()
                    self._wake = loop.create_future()
                    await self.execution.park(wake=self._wake)
            finally:
                for task in self.in_flight.values():
                    task.cancel()

    def _result(self, recorded: _Summary | None, total: int) -> BatchResult[Any]:
        completion = self.completion
        reason = (
            recorded.completion_reason
            if recorded is not None
            else completion.reason(self.successes, self.failures, total)
        )
        if recorded is not None:
            for index in self._recorded_started(recorded):
                self.items[index] = BatchItem(index=index, status="STARTED")
        for index in self.in_flight:
            self.items[index] = BatchItem(index=index, status="STARTED")
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
        self.execution.task_started()
        task = group.create_task(self._branch(index), name=f"aiodurable-branch-{index}")
        self.in_flight[index] = task

    def _finish(self, index: int, item: BatchItem[Any]) -> None:
        self.in_flight.pop(index, None)
        self.items[index] = item
        if item.status == "SUCCEEDED":
            self.successes += 1
        else:
            self.failures += 1
        wake, self._wake = self._wake, None
        if wake is not None:
            self.execution.wake(wake)

    async def _branch(self, index: int) -> None:
        try:
            item = await self._run_branch(index)
            self._finish(index, item)
        finally:
            self.execution.task_finished()

    async def _run_branch(self, index: int) -> BatchItem[Any]:
        execution = self.execution
        spec = self.branches[index]
        parent = self.identity.id
        bid = branch_id(parent, index)
        serdes_context = self.identity.serdes_context(execution)
        if self.nesting is Nesting.FLAT:
            if bid in execution.operations:
                execution.nondeterminism(
                    f"branch {index} of {parent} was recorded NESTED but now runs FLAT"
                )
            child = self.make_context(parent, bid, self.replaying)
            try:
                value = await spec.run(child)
                text = serialize(self.item_serdes, value, serdes_context)
                result = deserialize(self.item_serdes, text, serdes_context)
            except FATAL_ERRORS:
                raise
            except Exception as exc:
                return BatchItem(index=index, status="FAILED", error=_inner_error(exc))
            return BatchItem(index=index, status="SUCCEEDED", result=result)
        identity = OperationIdentity(bid, OperationType.CONTEXT, self.item_type, spec.name, parent)
        op = identity.read(execution)
        details = op.context_details if op is not None else None
        replay_children = bool(details and details.replay_children)
        if op is not None and op.status is OperationStatus.SUCCEEDED and not replay_children:
            stored = deserialize(
                self.item_serdes, details.result if details else None, serdes_context
            )
            return BatchItem(index=index, status="SUCCEEDED", result=stored)
        if op is not None and op.status is OperationStatus.FAILED:
            return BatchItem(index=index, status="FAILED", error=details.error if details else None)
        checkpointer = execution.checkpointer
        if op is None:
            checkpointer.enqueue(identity.update(OperationAction.START))
        child = self.make_context(bid, bid, op is not None)
        try:
            value = await spec.run(child)
            text = serialize(self.item_serdes, value, serdes_context)
            result = (
                deserialize(self.item_serdes, text, serdes_context) if text is not None else None
            )
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            error = _inner_error(exc)
            if not replay_children:
                await checkpointer.checkpoint(identity.update(OperationAction.FAIL, error=error))
            return BatchItem(index=index, status="FAILED", error=error)
        if not replay_children:
            large = text is not None and len(text) > REPLAY_CHILDREN_THRESHOLD
            await checkpointer.checkpoint(
                identity.update(
                    OperationAction.SUCCEED,
                    payload="" if large else text,
                    context_options=ContextOptions(replay_children=large),
                )
            )
        return BatchItem(index=index, status="SUCCEEDED", result=result)


def _inner_error(exc: BaseException) -> ErrorObject:
    """A branch's error records the inner type, not the SDK wrapper (PROTOCOL §6.8)."""
    error = error_object_from_exception(exc)
    if isinstance(exc, DurableOperationError) and exc.error_type:
        return ErrorObject(
            error_type=exc.error_type,
            error_message=exc.message,
            error_data=exc.error_data,
            stack_trace=exc.stack_trace,
        )
    return error


def decode_batch(text: str, result_type: Any) -> BatchResult[Any]:
    value: BatchResult[Any] = decode_json(text, BatchResult[result_type])
    return value
