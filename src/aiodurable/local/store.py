"""Where the local backend keeps executions: the store protocol and the memory store.

The store is the truth. The backend holds only *running* executions in memory (it drives
them) and writes each accepted change through to its store *before* acknowledging it, so
a restarted backend over the same store resumes where the last acknowledged change left
off. A finished execution leaves the backend's memory once its last change is saved;
``GetDurableExecution``, its history, the UI and the CLI read it back from the store when
asked, and listings are read page by page. Stores are synchronous on purpose: each call
is one small transaction or lookup, cheap enough to run on the event loop (no threads).

The memory store keeps a finished execution as one compressed blob, a few KiB; it still
grows with every execution (nothing is forgotten while the process lives). Use a SQLite
store (:class:`~aiodurable.local.SqliteStore`) for a long-lived server: its memory stays
flat however many executions the file holds.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import msgspec

from aiodurable.local.history import Event
from aiodurable.local.records import TERMINAL_EXECUTION_STATUSES, ExecutionRecord, public_status
from aiodurable.local.validation import parse_count
from aiodurable.wire import Operation

__all__ = [
    "ExecutionQuery",
    "MemoryStore",
    "Store",
    "StoredExecution",
    "callback_ids",
    "micros",
    "parse_marker",
]


@dataclass
class StoredExecution:
    """One execution as loaded from a store; operations in creation order."""

    record: ExecutionRecord
    operations: list[Operation] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    #: Replay signatures by operation id (:mod:`aiodurable.runtime.replay_trace`).
    trace: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ExecutionQuery:
    """Which executions a listing returns (``ListDurableExecutionsByFunction``'s filters)."""

    function_name: str | None = None
    statuses: frozenset[str] | None = None
    name: str | None = None
    #: Only executions started strictly after / before these instants.
    started_after: datetime | None = None
    started_before: datetime | None = None
    #: Newest first.
    reverse: bool = False


class Store(Protocol):
    """Persistence of executions, operations, history events and replay traces."""

    def save(
        self,
        record: ExecutionRecord,
        operations: Iterable[Operation],
        events: Iterable[Event],
        trace: Mapping[str, str] | None = None,
    ) -> None:
        """Durably record the execution, upsert ``operations`` and ``trace`` entries and
        append ``events``, all at once."""
        ...

    def load_running(self) -> list[StoredExecution]:
        """Every execution that has not ended, whole, in the order they were created."""
        ...

    def load_execution(self, arn: str) -> StoredExecution | None:
        """One execution, whole (``None``: not in the store)."""
        ...

    def load_record(self, arn: str) -> ExecutionRecord | None:
        """One execution's record, without its operations and events."""
        ...

    def find_name(self, function_name: str, name: str) -> ExecutionRecord | None:
        """The execution named ``name`` of ``function_name``."""
        ...

    def find_callback(self, callback_id: str) -> tuple[str, str] | None:
        """(execution ARN, operation id) of a callback id ever issued."""
        ...

    def list_executions(
        self, query: ExecutionQuery, *, marker: str | None, limit: int
    ) -> tuple[list[ExecutionRecord], str | None]:
        """At most ``limit`` records matching ``query`` in start order (newest first when
        ``query.reverse``) after ``marker``; and the marker of the next page, if any.

        Raises ``ValueError`` for a marker this store did not return."""
        ...

    def function_names(self) -> list[str]:
        """The functions that have executions in the store, sorted."""
        ...

    def latest_event_time(self) -> datetime | None:
        """The timestamp of the latest history event stored (virtual time resumes there)."""
        ...

    def load(self) -> list[StoredExecution]:
        """Every stored execution, whole, oldest first (for tools reading a whole store;
        the backend never calls it)."""
        ...

    def delete(self, arn: str) -> None:
        """Remove the execution, its operations, events, replay trace and callback ids;
        nothing of it remains."""
        ...

    def close(self) -> None:
        """Release what the store holds open."""
        ...


def micros(when: datetime) -> int:
    """``when`` as integer microseconds since the epoch: exact, and ordered as instants."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_marker(marker: str | None) -> int | None:
    """The position a listing marker names (``None``: from the start)."""
    if not marker:
        return None
    position = parse_count(marker)
    if position is None:
        raise ValueError(f"Marker {marker[:64]!r} was not returned by this service")
    return position


def callback_ids(operations: Iterable[Operation]) -> list[tuple[str, str]]:
    """(callback id, operation id) of the callbacks among ``operations``."""
    return [
        (op.callback_details.callback_id, op.id)
        for op in operations
        if op.callback_details is not None and op.callback_details.callback_id
    ]


_encode = msgspec.json.Encoder().encode
_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(tuple[bytes, list[bytes], list[bytes], dict[str, str]]).decode


class _Entry:
    """One execution in a :class:`MemoryStore`: what a listing filters on, and the body —
    loose blobs while it runs, one compressed blob once it has ended."""

    __slots__ = (
        "arn",
        "events",
        "function_name",
        "name",
        "operations",
        "packed",
        "record",
        "seq",
        "started",
        "status",
        "trace",
    )

    def __init__(self, seq: int, record: ExecutionRecord) -> None:
        self.seq = seq
        self.arn = record.arn
        self.function_name = record.function_name
        self.name = record.name
        self.started = record.start_timestamp
        self.status = public_status(record).value
        self.record = b""
        self.operations: dict[str, bytes] = {}
        self.events: list[bytes] = []
        self.trace: dict[str, str] = {}
        self.packed: bytes | None = None

    def unpack(self) -> None:
        if self.packed is not None:
            record, operations, events, trace = _unpack(zlib.decompress(self.packed))
            self.record, self.events, self.trace = record, events, trace
            self.operations = {
                msgspec.json.decode(body, type=Operation).id: body for body in operations
            }
            self.packed = None

    def pack(self) -> None:
        body = (self.record, list(self.operations.values()), self.events, self.trace)
        self.packed = zlib.compress(_pack(body))
        self.operations, self.events, self.trace = {}, [], {}

    def stored(self) -> StoredExecution:
        if self.packed is not None:
            record, operations, events, trace = _unpack(zlib.decompress(self.packed))
        else:
            record, operations, events, trace = (
                self.record,
                list(self.operations.values()),
                self.events,
                self.trace,
            )
        return StoredExecution(
            msgspec.json.decode(record, type=ExecutionRecord),
            [msgspec.json.decode(b, type=Operation) for b in operations],
            [msgspec.json.decode(b, type=Event) for b in events],
            dict(trace),
        )

    def matches(self, query: ExecutionQuery) -> bool:
        return (
            (query.function_name is None or self.function_name == query.function_name)
            and (query.statuses is None or self.status in query.statuses)
            and (query.name is None or self.name == query.name)
            and (query.started_after is None or self.started > query.started_after)
            and (query.started_before is None or self.started < query.started_before)
        )


class MemoryStore:
    """Keeps encoded executions in this process; a finished one as one compressed blob.

    A new backend opened over the same ``MemoryStore`` resumes its unfinished executions,
    which is how tests exercise restarts without a file. Nothing survives the process.
    """

    def __init__(self) -> None:
        self._executions: dict[str, _Entry] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._callbacks: dict[str, tuple[str, str]] = {}
        self._latest: datetime | None = None

    def save(
        self,
        record: ExecutionRecord,
        operations: Iterable[Operation],
        events: Iterable[Event],
        trace: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the execution, its operations, new events and trace entries."""
        entry = self._executions.get(record.arn)
        if entry is None:
            entry = self._executions[record.arn] = _Entry(len(self._executions), record)
            self._names[(record.function_name, record.name)] = record.arn
        entry.unpack()
        entry.status = public_status(record).value
        entry.record = _encode(record)
        operations = list(operations)
        for op in operations:
            entry.operations[op.id] = _encode(op)
        for callback_id, op_id in callback_ids(operations):
            self._callbacks.setdefault(callback_id, (record.arn, op_id))
        for event in events:
            entry.events.append(_encode(event))
            if self._latest is None or event.event_timestamp > self._latest:
                self._latest = event.event_timestamp
        if trace:
            entry.trace.update(trace)
        if record.status in TERMINAL_EXECUTION_STATUSES:
            entry.pack()

    def load_running(self) -> list[StoredExecution]:
        """The executions that have not ended."""
        return [e.stored() for e in self._executions.values() if e.packed is None]

    def load_execution(self, arn: str) -> StoredExecution | None:
        """One execution, decoded."""
        entry = self._executions.get(arn)
        return entry.stored() if entry is not None else None

    def load_record(self, arn: str) -> ExecutionRecord | None:
        """One execution's record, decoded."""
        entry = self._executions.get(arn)
        if entry is None:
            return None
        if entry.packed is None:
            return msgspec.json.decode(entry.record, type=ExecutionRecord)
        return entry.stored().record

    def find_name(self, function_name: str, name: str) -> ExecutionRecord | None:
        """The execution named ``name`` of ``function_name``."""
        arn = self._names.get((function_name, name))
        return self.load_record(arn) if arn is not None else None

    def find_callback(self, callback_id: str) -> tuple[str, str] | None:
        """Where a callback id was issued."""
        return self._callbacks.get(callback_id)

    def list_executions(
        self, query: ExecutionQuery, *, marker: str | None, limit: int
    ) -> tuple[list[ExecutionRecord], str | None]:
        """A page of records matching ``query`` (a scan of the entries' summaries)."""
        after = parse_marker(marker)
        entries = list(self._executions.values())
        if query.reverse:
            entries.reverse()
        if after is not None:
            entries = [e for e in entries if (e.seq < after if query.reverse else e.seq > after)]
        taken: list[_Entry] = []
        more = False
        for entry in entries:
            if entry.matches(query):
                if len(taken) == limit:
                    more = True
                    break
                taken.append(entry)
        records = [r for e in taken if (r := self.load_record(e.arn)) is not None]
        return records, (str(taken[-1].seq) if more and taken else None)

    def function_names(self) -> list[str]:
        """Functions with executions here."""
        return sorted({e.function_name for e in self._executions.values()})

    def latest_event_time(self) -> datetime | None:
        """The latest event timestamp saved."""
        return self._latest

    def load(self) -> list[StoredExecution]:
        """Every execution, decoded."""
        return [e.stored() for e in self._executions.values()]

    def delete(self, arn: str) -> None:
        """Forget the execution, its name and its callback ids."""
        entry = self._executions.pop(arn, None)
        if entry is not None:
            self._names.pop((entry.function_name, entry.name), None)
            for callback_id in [c for c, (owner, _) in self._callbacks.items() if owner == arn]:
                del self._callbacks[callback_id]

    def close(self) -> None:
        """Nothing to release."""
