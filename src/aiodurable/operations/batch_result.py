"""The result and policy types of ``ctx.map`` and ``ctx.parallel`` (PROTOCOL §6.8)."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec

from aiodurable.errors import ChildContextError, ValidationError
from aiodurable.wire import ErrorObject

__all__ = [
    "BatchItem",
    "BatchResult",
    "CompletionConfig",
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
