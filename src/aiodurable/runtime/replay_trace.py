"""What each operation was called *with*, kept beside the checkpoints where a service can.

Replay matches operations to checkpoints by position and checks type, name and parent
(docs/protocol.md §4.3). Two misuses pass that check and pair stored results with the wrong
calls: concurrent tasks reaching same-named operations in a timing-dependent order, and
map items whose order or values changed between invocations. The wire protocol has no
field to record more, so the trace lives outside it: a service client that offers
:class:`TraceStore` (the local backend does) keeps one short signature per operation id,
and each replay compares against it. The Lambda service offers nothing of the kind; there
the trace is off and costs nothing.

A signature is ``"<previous id>|<digest>"``: the id of the operation the same task called
before in the same context (empty for its first), and a digest of the call (a step's
function and arguments, then the values its closure captured), or empty when there is
nothing to digest. Map items are kept under ``"<map id>#items"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from hashlib import blake2b
from typing import Any, Protocol, runtime_checkable

import msgspec

__all__ = ["PendingTrace", "ReplayTrace", "TraceStore", "call_digest", "digest", "trace_store"]


@runtime_checkable
class TraceStore(Protocol):
    """A service client that can keep replay signatures beside an execution."""

    def replay_trace(self, execution_arn: str) -> Mapping[str, str]:
        """The signatures recorded so far, by operation id."""
        ...

    def record_replay_trace(self, execution_arn: str, entries: Mapping[str, str]) -> None:
        """Add (or replace) signatures of operations this invocation created."""
        ...


@runtime_checkable
class PendingTrace(Protocol):
    """Recorded signatures that come with the dict new ones go to as they are made.

    A store that commits that dict with every checkpoint of the execution (the local
    backend) keeps each signature durable with the operation it describes; without it the
    new signatures are sent once, when the invocation ends.
    """

    pending: dict[str, str]


def trace_store(client: object) -> TraceStore | None:
    """``client`` when it can keep a replay trace, else ``None``."""
    return client if isinstance(client, TraceStore) else None


class ReplayTrace:
    """The signatures of one invocation: those recorded before, and the new ones."""

    __slots__ = ("new", "recorded")

    def __init__(self, recorded: Mapping[str, str]) -> None:
        self.recorded = recorded
        self.new: dict[str, str] = recorded.pending if isinstance(recorded, PendingTrace) else {}

    def save(self, store: TraceStore, execution_arn: str) -> None:
        if self.new:
            store.record_replay_trace(execution_arn, self.new)
            self.new = {}


_ENCODER = msgspec.json.Encoder(order="deterministic")


def _canonical(value: Any) -> bytes:
    """The value as deterministic JSON; its type's name when it has no JSON form."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError, OverflowError):
        cls = type(value)
        return f"<{cls.__module__}.{cls.__qualname__}>".encode()


def digest(value: Any) -> str:
    """A short digest of ``value``'s JSON form (its type when it has none)."""
    return blake2b(_canonical(value), digest_size=8).hexdigest()


def call_digest(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """``"<call>.<captured>"``: a digest of the function and its arguments, and one of the
    values its closure captured and its defaults."""
    call = blake2b(digest_size=8)
    fn = getattr(fn, "__func__", fn)
    call.update(f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}".encode())
    for arg in args:
        call.update(b"\x00")
        call.update(_canonical(arg))
    for key in sorted(kwargs):
        call.update(b"\x00" + key.encode() + b"=")
        call.update(_canonical(kwargs[key]))
    captured = blake2b(digest_size=8)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            captured.update(_canonical(cell.cell_contents))
        except ValueError:  # an empty cell
            captured.update(b"<empty>")
        captured.update(b"\x00")
    for default in getattr(fn, "__defaults__", None) or ():
        captured.update(_canonical(default))
        captured.update(b"\x00")
    return f"{call.hexdigest()}.{captured.hexdigest()}"
