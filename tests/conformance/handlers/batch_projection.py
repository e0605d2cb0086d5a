"""What the map and parallel handlers report about a batch result."""

from __future__ import annotations

from typing import Any

from aiodurable import BatchResult


def summary(result: BatchResult[Any]) -> dict[str, Any]:
    """The projection the requirements ask for (each asserts a subset of it)."""
    return {
        "completionReason": result.completion_reason,
        "status": result.status,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }


def counts(result: BatchResult[Any], *keys: str) -> dict[str, Any]:
    """Only ``keys`` of :func:`summary`."""
    full = summary(result)
    return {key: full[key] for key in keys}
