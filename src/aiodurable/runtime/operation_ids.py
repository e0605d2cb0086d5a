"""Deterministic operation ids, identical to the official SDK's (docs/protocol.md §3)."""

from __future__ import annotations

from hashlib import blake2b

__all__ = ["branch_id", "hash_id", "step_id"]


def hash_id(raw: str) -> str:
    """First 64 hex characters of BLAKE2b-512 of ``raw`` (not BLAKE2b-256)."""
    return blake2b(raw.encode()).hexdigest()[:64]


def step_id(prefix: str | None, counter: int) -> str:
    """Id of the ``counter``-th (1-based) operation of a context with ``prefix``."""
    return hash_id(str(counter) if prefix is None else f"{prefix}-{counter}")


def branch_id(parent_id: str, index: int) -> str:
    """Id of branch ``index`` (0-based) of the map or parallel operation ``parent_id``."""
    return hash_id(f"{parent_id}-{index}")
