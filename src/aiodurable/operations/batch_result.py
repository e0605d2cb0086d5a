"""The result and policy types of ``ctx.map`` and ``ctx.parallel`` (docs/protocol.md §6.8)."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeAlias, TypeVar

import msgspec

from aiodurable.errors import BatchCompletionError, ChildContextError, ValidationError
from aiodurable.serdes import convert
from aiodurable.wire import ErrorObject

__all__ = [
    "CUSTOM_COMPLETION_FAILED",
    "CUSTOM_COMPLETION_SUCCEEDED",
    "BatchItem",
    "BatchItemStatus",
    "BatchProgress",
    "BatchResult",
    "CompletionConfig",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionReason",
    "CompletionStatus",
    "ItemStatus",
    "NamedBranch",
    "Nesting",
    "complete_batch",
    "continue_batch",
]

T = TypeVar("T")


class BatchItemStatus(enum.StrEnum):
    """The status of one branch in a :class:`BatchResult` (the official SDK's enum).

    A string enum: ``item.status == "SUCCEEDED"`` and ``item.status is
    BatchItemStatus.SUCCEEDED`` both hold, and it is written to JSON as the string.
    """

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    #: Still running when the batch completed (abandoned by an early completion).
    STARTED = "STARTED"


#: The former name of :class:`BatchItemStatus`.
ItemStatus = BatchItemStatus


class CompletionReason(enum.StrEnum):
    """Why a map or parallel completed (a string enum, like :class:`BatchItemStatus`)."""

    ALL_COMPLETED = "ALL_COMPLETED"
    MIN_SUCCESSFUL_REACHED = "MIN_SUCCESSFUL_REACHED"
    FAILURE_TOLERANCE_EXCEEDED = "FAILURE_TOLERANCE_EXCEEDED"
    #: A ``should_complete`` predicate completed the batch as succeeded.
    CUSTOM_COMPLETION_SUCCEEDED = "CUSTOM_COMPLETION_SUCCEEDED"
    #: A ``should_complete`` predicate completed the batch as failed.
    CUSTOM_COMPLETION_FAILED = "CUSTOM_COMPLETION_FAILED"


class Nesting(enum.Enum):
    #: Each branch is a checkpointed CONTEXT (``MapIteration`` / ``ParallelBranch``).
    """How branch operations are recorded: each in its own context, or flat."""

    NESTED = "NESTED"
    #: Branch operations sit directly under the map/parallel context.
    FLAT = "FLAT"


if TYPE_CHECKING:
    # Builders may pass the plain strings (``BatchItem(index=0, status="FAILED")``);
    # ``__post_init__`` stores the enum member. At run time the fields are the enums
    # alone, so msgspec decodes checkpoints straight into them.
    _Status: TypeAlias = BatchItemStatus | Literal["SUCCEEDED", "FAILED", "STARTED"]
    _Reason: TypeAlias = CompletionReason | str
else:
    _Status = BatchItemStatus
    _Reason = CompletionReason

#: Completion reasons of a custom ``should_complete`` predicate (docs/protocol.md §6.8).
CUSTOM_COMPLETION_SUCCEEDED = CompletionReason.CUSTOM_COMPLETION_SUCCEEDED
CUSTOM_COMPLETION_FAILED = CompletionReason.CUSTOM_COMPLETION_FAILED


class _Named(Protocol):
    @property
    def name(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class CompletionItemStatus:
    """One branch as a completion predicate sees it (the official SDK's type)."""

    #: The branch's (or map item's) position.
    index: int
    #: The branch's name (``parallel-branch-<i>``, ``map-item-<i>`` or the one given).
    name: str | None = None
    #: ``SUCCEEDED`` / ``FAILED`` once counted, ``STARTED`` while running, ``None``
    #: before it started (``max_concurrency`` holds it back).
    status: BatchItemStatus | None = None


@dataclass(frozen=True)
class BatchProgress:
    """What a custom completion predicate sees: the counts, the branches completed so
    far, and each branch's status by index (the official SDK's ``CompletionStatus``).

    >>> def a_or_b_and_c(p: BatchProgress) -> CompletionDecision:
    ...     ok = [item.status is BatchItemStatus.SUCCEEDED for item in p.items]
    ...     return complete_batch() if ok[0] or (ok[1] and ok[2]) else continue_batch()
    """

    #: Number of items (branches) of the map or parallel.
    total_count: int
    success_count: int
    failure_count: int
    #: Branches started and not completed yet.
    in_flight_count: int
    #: The completed branches so far, in the order they were counted.
    completed: tuple[BatchItem[Any], ...]
    #: The indexes of the branches started and not completed yet.
    in_flight: Collection[int] = ()
    #: The branches, by index (for their names).
    branches: Sequence[_Named] = ()

    @property
    def completed_count(self) -> int:
        """How many branches completed (succeeded or failed)."""
        return self.success_count + self.failure_count

    @property
    def started_count(self) -> int:
        """How many branches are running (``in_flight_count``)."""
        return self.in_flight_count

    @property
    def items(self) -> tuple[CompletionItemStatus, ...]:
        """Every branch by index: ``items[i]`` is always the branch (or map item) at
        position ``i``, whatever order they finish in, with its status so far."""
        statuses: list[BatchItemStatus | None] = [None] * self.total_count
        for index in self.in_flight:
            statuses[index] = BatchItemStatus.STARTED
        for item in self.completed:
            statuses[item.index] = BatchItemStatus(item.status)
        names = self.branches
        return tuple(
            CompletionItemStatus(i, names[i].name if i < len(names) else None, status)
            for i, status in enumerate(statuses)
        )


#: The official SDK's name of what a ``should_complete`` predicate receives.
CompletionStatus = BatchProgress


@dataclass(frozen=True)
class CompletionDecision:
    """The answer of a ``should_complete`` predicate: go on, or complete the batch."""

    complete: bool
    #: With ``complete``: the batch's status is FAILED (reason ``CUSTOM_COMPLETION_FAILED``).
    failed: bool = False
    #: The official SDK's spelling of ``failed``: ``CompletionOutcome.FAILED`` sets it.
    outcome: CompletionOutcome | None = None

    def __post_init__(self) -> None:
        if self.outcome is not None and not self.complete:
            raise ValidationError(
                "CompletionDecision: an outcome goes with complete=True only; "
                "return continue_batch() to keep going"
            )
        if self.outcome is CompletionOutcome.FAILED:
            object.__setattr__(self, "failed", True)

    @classmethod
    def continue_batch(cls) -> CompletionDecision:
        """Keep running branches."""
        return cls(complete=False)

    @classmethod
    def complete_batch(
        cls, outcome: CompletionOutcome | None = None, *, failed: bool = False
    ) -> CompletionDecision:
        """Complete now: ``CUSTOM_COMPLETION_SUCCEEDED``, or ``..._FAILED`` with
        ``failed=True`` (or the official SDK's ``CompletionOutcome.FAILED``)."""
        return cls(complete=True, failed=failed, outcome=outcome)


class CompletionOutcome(enum.StrEnum):
    """The official SDK's argument of ``complete_batch``: how the batch completes."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


def complete_batch(outcome: CompletionOutcome = CompletionOutcome.SUCCEEDED) -> CompletionDecision:
    """The official SDK's spelling of :meth:`CompletionDecision.complete_batch`."""
    return CompletionDecision.complete_batch(outcome)


def continue_batch() -> CompletionDecision:
    """The official SDK's spelling of :meth:`CompletionDecision.continue_batch`."""
    return CompletionDecision.continue_batch()


@dataclass(frozen=True)
class CompletionConfig:
    """When a map or parallel is done.

    ``min_successful``: done once this many branches succeeded. ``tolerated_failure_count``
    / ``tolerated_failure_percentage`` (of all items): done, with reason
    ``FAILURE_TOLERANCE_EXCEEDED``, once failures exceed them. With no field set the
    first failure ends the operation.

    ``should_complete`` replaces all three with a predicate of the
    :class:`BatchProgress`, asked before any branch starts and after each branch
    completes; it returns :meth:`CompletionDecision.continue_batch` or
    :meth:`CompletionDecision.complete_batch` (reason ``CUSTOM_COMPLETION_SUCCEEDED`` or,
    with ``failed=True``, ``CUSTOM_COMPLETION_FAILED``). An exception from it fails the
    operation.

    >>> CompletionConfig(should_complete=lambda p: CompletionDecision(p.success_count >= 2))
    ... # doctest: +SKIP
    """

    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: float | None = None
    should_complete: Callable[[BatchProgress], CompletionDecision] | None = None

    def __post_init__(self) -> None:
        if self.min_successful is not None and self.min_successful < 1:
            raise ValidationError(f"min_successful must be at least 1, got {self.min_successful}")
        if self.tolerated_failure_count is not None and self.tolerated_failure_count < 0:
            raise ValidationError("tolerated_failure_count must not be negative")
        pct = self.tolerated_failure_percentage
        if pct is not None and not 0 <= pct <= 100:
            raise ValidationError(f"tolerated_failure_percentage must be 0-100, got {pct}")
        if self.should_complete is not None and (
            self.min_successful is not None
            or self.tolerated_failure_count is not None
            or pct is not None
        ):
            raise ValidationError(
                "CompletionConfig(should_complete=...) decides alone: leave min_successful "
                "and the tolerated failure fields unset, or drop the predicate"
            )

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
        if self.should_complete is not None:
            return False
        count, pct = self.tolerated_failure_count, self.tolerated_failure_percentage
        if count is None and pct is None:
            return failures > 0 and self.min_successful is None
        if count is not None and failures > count:
            return True
        return pct is not None and total > 0 and failures / total * 100 > pct

    def complete(self, successes: int, failures: int, total: int) -> bool:
        """Whether the thresholds say the operation is done with these counts."""
        if successes + failures >= total:
            return True
        return self.min_successful is not None and successes >= self.min_successful

    def reason(self, successes: int, failures: int, total: int) -> CompletionReason:
        """The completion reason recorded for these counts."""
        if self.exceeded(failures, total):
            return CompletionReason.FAILURE_TOLERANCE_EXCEEDED
        if successes + failures >= total:
            return CompletionReason.ALL_COMPLETED
        if self.min_successful is not None and successes >= self.min_successful:
            return CompletionReason.MIN_SUCCESSFUL_REACHED
        return CompletionReason.ALL_COMPLETED

    def can_complete_early(self, total: int) -> bool:
        """Whether the policy may end a batch of ``total`` items before all completed."""
        if self.should_complete is not None or self.min_successful is not None:
            return True
        count, pct = self.tolerated_failure_count, self.tolerated_failure_percentage
        if count is None and pct is None:
            return True  # the first failure ends it
        return not ((count is None or count >= total) and (pct is None or pct >= 100))

    def outcome(
        self, successes: int, failures: int, total: int, progress: Callable[[], BatchProgress]
    ) -> CompletionReason | None:
        """The completion reason if the batch is done with these counts, else ``None``;
        ``progress()`` is built only for a ``should_complete`` predicate."""
        s, f, n = successes, failures, total
        if self.should_complete is not None:
            decision = self.should_complete(progress())
            if decision.complete:
                return CUSTOM_COMPLETION_FAILED if decision.failed else CUSTOM_COMPLETION_SUCCEEDED
            return CompletionReason.ALL_COMPLETED if s + f >= n else None
        if self.exceeded(f, n) or self.complete(s, f, n):
            return self.reason(s, f, n)
        return None


class BatchItem(msgspec.Struct, Generic[T], rename="camel", omit_defaults=True):
    """One started branch: its index, status, and result or error."""

    index: int
    status: _Status
    result: T | None = None
    error: ErrorObject | None = None

    def __post_init__(self) -> None:
        # Built from a plain string too (``BatchItem(index=0, status="FAILED")``): store
        # the enum member, so identity checks work whatever built the item.
        if self.status.__class__ is not BatchItemStatus:
            self.status = BatchItemStatus(self.status)


class BatchResult(msgspec.Struct, Generic[T], rename="camel"):
    """The outcome of a map or parallel: the started branches in index order."""

    all: list[BatchItem[T]]
    completion_reason: _Reason

    def __post_init__(self) -> None:
        if self.completion_reason.__class__ is not CompletionReason:
            self.completion_reason = CompletionReason(self.completion_reason)

    @property
    def status(self) -> BatchItemStatus:
        """``FAILED`` if any branch failed or a custom predicate completed the batch as
        failed; ``SUCCEEDED`` if one completed it as succeeded, or no branch failed."""
        if self.completion_reason is CUSTOM_COMPLETION_FAILED:
            return BatchItemStatus.FAILED
        if self.completion_reason is CUSTOM_COMPLETION_SUCCEEDED:
            return BatchItemStatus.SUCCEEDED
        return BatchItemStatus.FAILED if self.has_failure else BatchItemStatus.SUCCEEDED

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
        """Raise ``ChildContextError`` for the first failed branch, if any; else
        ``BatchCompletionError`` if a custom predicate completed the batch as failed."""
        for item in self.all:
            if item.status == "FAILED":
                raise ChildContextError.from_error_object(item.error)
        if self.completion_reason == CUSTOM_COMPLETION_FAILED:
            raise BatchCompletionError(
                f"the batch was completed as failed by its should_complete predicate "
                f"({self.success_count} succeeded, {self.started_count} still running)"
            )

    def to_dict(self) -> dict[str, Any]:
        """The result as plain dicts: ``{"all": [{"index", "status", "result", "error"}],
        "completionReason"}``; ``error`` as its ``ErrorType``/``ErrorMessage``/… fields,
        ``result`` as the branch returned it."""
        return {
            "all": [
                {
                    "index": item.index,
                    "status": item.status,
                    "result": item.result,
                    "error": msgspec.to_builtins(item.error) if item.error else None,
                }
                for item in self.all
            ],
            "completionReason": self.completion_reason,
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        completion_config: CompletionConfig | None = None,
        *,
        result_type: Any = Any,
    ) -> BatchResult[Any]:
        """Rebuild a result from :meth:`to_dict`'s form (results converted to
        ``result_type``). Without a ``completionReason`` the reason is inferred from the
        items' counts under ``completion_config``."""
        try:
            items = convert(data["all"], list[BatchItem[result_type]], strict=False)
        except (KeyError, TypeError, msgspec.ValidationError) as exc:
            raise ValidationError(f"not a BatchResult dict ({exc!r}): {data!r:.200}") from exc
        recorded = data.get("completionReason")
        if recorded is not None:
            try:
                reason = CompletionReason(recorded)
            except ValueError as exc:
                raise ValidationError(
                    f"not a BatchResult dict: unknown completionReason {recorded!r}"
                ) from exc
        else:
            successes = sum(item.status == "SUCCEEDED" for item in items)
            failures = sum(item.status == "FAILED" for item in items)
            policy = completion_config or CompletionConfig()
            reason = policy.reason(successes, failures, len(items))
        return BatchResult(all=items, completion_reason=reason)

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
