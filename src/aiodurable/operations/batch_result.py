"""The result and policy types of ``ctx.map`` and ``ctx.parallel`` (docs/protocol.md §6.8)."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec

from aiodurable.errors import BatchCompletionError, ChildContextError, ValidationError
from aiodurable.wire import ErrorObject

__all__ = [
    "CUSTOM_COMPLETION_FAILED",
    "CUSTOM_COMPLETION_SUCCEEDED",
    "BatchItem",
    "BatchProgress",
    "BatchResult",
    "CompletionConfig",
    "CompletionDecision",
    "ItemStatus",
    "NamedBranch",
    "Nesting",
]

T = TypeVar("T")

ItemStatus = Literal["SUCCEEDED", "FAILED", "STARTED"]


class Nesting(enum.Enum):
    #: Each branch is a checkpointed CONTEXT (``MapIteration`` / ``ParallelBranch``).
    """How branch operations are recorded: each in its own context, or flat."""

    NESTED = "NESTED"
    #: Branch operations sit directly under the map/parallel context.
    FLAT = "FLAT"


#: Completion reasons of a custom ``should_complete`` predicate (docs/protocol.md §6.8).
CUSTOM_COMPLETION_SUCCEEDED = "CUSTOM_COMPLETION_SUCCEEDED"
CUSTOM_COMPLETION_FAILED = "CUSTOM_COMPLETION_FAILED"


@dataclass(frozen=True)
class BatchProgress:
    """What a custom completion predicate sees: the branches completed so far."""

    #: Number of items (branches) of the map or parallel.
    total_count: int
    success_count: int
    failure_count: int
    #: Branches started and not completed yet.
    in_flight_count: int
    #: The completed branches so far, in the order they were counted.
    completed: tuple[BatchItem[Any], ...]


@dataclass(frozen=True)
class CompletionDecision:
    """The answer of a ``should_complete`` predicate: go on, or complete the batch."""

    complete: bool
    #: With ``complete``: the batch's status is FAILED (reason ``CUSTOM_COMPLETION_FAILED``).
    failed: bool = False

    @classmethod
    def continue_batch(cls) -> CompletionDecision:
        """Keep running branches."""
        return cls(complete=False)

    @classmethod
    def complete_batch(cls, *, failed: bool = False) -> CompletionDecision:
        """Complete now: ``CUSTOM_COMPLETION_SUCCEEDED``, or ``..._FAILED`` with ``failed``."""
        return cls(complete=True, failed=failed)


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

    def reason(self, successes: int, failures: int, total: int) -> str:
        """The completion reason recorded for these counts."""
        if self.exceeded(failures, total):
            return "FAILURE_TOLERANCE_EXCEEDED"
        if successes + failures >= total:
            return "ALL_COMPLETED"
        if self.min_successful is not None and successes >= self.min_successful:
            return "MIN_SUCCESSFUL_REACHED"
        return "ALL_COMPLETED"

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
    ) -> str | None:
        """The completion reason if the batch is done with these counts, else ``None``;
        ``progress()`` is built only for a ``should_complete`` predicate."""
        s, f, n = successes, failures, total
        if self.should_complete is not None:
            decision = self.should_complete(progress())
            if decision.complete:
                return CUSTOM_COMPLETION_FAILED if decision.failed else CUSTOM_COMPLETION_SUCCEEDED
            return "ALL_COMPLETED" if s + f >= n else None
        if self.exceeded(f, n) or self.complete(s, f, n):
            return self.reason(s, f, n)
        return None


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
        """``FAILED`` if any branch failed or a custom predicate completed the batch as
        failed; ``SUCCEEDED`` if one completed it as succeeded, or no branch failed."""
        if self.completion_reason == CUSTOM_COMPLETION_FAILED:
            return "FAILED"
        if self.completion_reason == CUSTOM_COMPLETION_SUCCEEDED:
            return "SUCCEEDED"
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
            items = msgspec.convert(data["all"], list[BatchItem[result_type]], strict=False)
        except (KeyError, TypeError, msgspec.ValidationError) as exc:
            raise ValidationError(f"not a BatchResult dict ({exc!r}): {data!r:.200}") from exc
        reason = data.get("completionReason")
        if reason is None:
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
