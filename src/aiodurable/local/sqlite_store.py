"""A SQLite store (stdlib ``sqlite3``): executions survive restarts and ``SIGKILL``.

Every :meth:`SqliteStore.save` is one transaction, committed before the backend
acknowledges the change it records. The transactions are small (one execution row, the
operations an update touched, the events it produced, new replay-trace entries) and run
synchronously on the event loop: the local backend uses no threads, and for a development
backend a sub-millisecond write is cheaper than a thread hop. The database is opened in
WAL mode with ``synchronous=FULL``; the file is created readable by its owner only (0600).

The file is the truth: opening it reads only the executions that have not ended (an index
holds them), a finished execution is read when asked for, and listings are pages of an
indexed query — so opening a file of 100,000 executions costs what opening an empty one
does, and a long-lived server's memory does not grow with the executions it has run.

Schema versions (``PRAGMA user_version``): 0 is the first layout (executions, operations,
events); 1 adds the columns listings filter on, the callbacks index, the replay trace and
the latest event time. A version-0 file is upgraded in place the first time it is opened.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from aiodurable.local.history import Event
from aiodurable.local.records import (
    TERMINAL_EXECUTION_STATUSES,
    ExecutionRecord,
    public_status,
)
from aiodurable.local.store import (
    _EPOCH,
    ExecutionQuery,
    StoredExecution,
    callback_ids,
    micros,
    parse_marker,
)
from aiodurable.wire import Operation

__all__ = ["SqliteStore"]

_SCHEMA_V0 = """
CREATE TABLE IF NOT EXISTS executions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arn TEXT NOT NULL UNIQUE,
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    arn TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (arn, id)
);
CREATE TABLE IF NOT EXISTS events (
    arn TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (arn, event_id)
);
"""

#: Version 1: what listings filter on, as columns (``started``: microseconds since the
#: epoch; ``open``: 1 until the execution ends), callback ids, the replay trace, and the
#: latest event time. Deleting an execution's row deletes its trace and callback ids.
_SCHEMA_V1 = (
    "ALTER TABLE executions ADD COLUMN function_name TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE executions ADD COLUMN name TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE executions ADD COLUMN status TEXT NOT NULL DEFAULT 'RUNNING'",
    "ALTER TABLE executions ADD COLUMN started INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE executions ADD COLUMN open INTEGER NOT NULL DEFAULT 1",
    "CREATE INDEX executions_open ON executions (seq) WHERE open = 1",
    "CREATE INDEX executions_by_function ON executions (function_name, seq)",
    "CREATE INDEX executions_by_name ON executions (function_name, name)",
    "CREATE TABLE callbacks (callback_id TEXT PRIMARY KEY, arn TEXT NOT NULL, "
    "operation_id TEXT NOT NULL)",
    "CREATE INDEX callbacks_by_execution ON callbacks (arn)",
    "CREATE TABLE replay_trace (arn TEXT NOT NULL, key TEXT NOT NULL, "
    "signature TEXT NOT NULL, PRIMARY KEY (arn, key))",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TRIGGER executions_deleted AFTER DELETE ON executions BEGIN "
    "DELETE FROM replay_trace WHERE arn = old.arn; "
    "DELETE FROM callbacks WHERE arn = old.arn; END",
)

_SCHEMA_VERSION = 1

_encode = msgspec.json.Encoder().encode
_decode_record = msgspec.json.Decoder(ExecutionRecord).decode
_decode_operation = msgspec.json.Decoder(Operation).decode
_decode_event = msgspec.json.Decoder(Event).decode

_UPSERT_EXECUTION = (
    "INSERT INTO executions (arn, record, function_name, name, status, started, open) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arn) DO UPDATE SET "
    "record = excluded.record, status = excluded.status, open = excluded.open"
)


def _columns(record: ExecutionRecord) -> tuple[Any, ...]:
    return (
        record.arn,
        _encode(record),
        record.function_name,
        record.name,
        public_status(record).value,  # what listings filter on: PAUSED, not RUNNING
        micros(record.start_timestamp),
        0 if record.status in TERMINAL_EXECUTION_STATUSES else 1,
    )


class SqliteStore:
    """Executions in a SQLite file (created with mode 0600, parent directory 0700)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                # Create it ourselves so the mode is 0600 whatever the umask;
                # SQLite gives its -wal/-shm files the same mode.
                os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # Deleted and overwritten content is zeroed, so that a deleted execution (or an
        # operation's superseded payload) leaves nothing readable in the file.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA_V0)
        self._upgrade()
        self._next_seq = self._operation_counter()

    def _operation_counter(self) -> Iterator[int]:
        """Operations are loaded in the order they were first saved. One counter over the
        whole file gives that order in O(1) per saved operation (gaps are harmless). It
        resumes after the newest row's ``seq``: rows get increasing rowids and ``seq``s
        alike, so the last rowid holds the largest, found without a scan."""
        row = self._db.execute("SELECT seq FROM operations ORDER BY rowid DESC LIMIT 1").fetchone()
        return itertools.count(0 if row is None else row[0] + 1)

    def _upgrade(self) -> None:
        db = self._db
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version >= _SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()  # another process?
            if version < 1:
                for statement in _SCHEMA_V1:
                    db.execute(statement)
                self._fill_v1()
            db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _fill_v1(self) -> None:
        """Give the rows of a version-0 file what version 1 indexes (a one-time scan)."""
        db = self._db
        for seq, body in db.execute("SELECT seq, record FROM executions").fetchall():
            columns = _columns(_decode_record(body))
            db.execute(
                "UPDATE executions SET function_name = ?, name = ?, status = ?, started = ?, "
                "open = ? WHERE seq = ?",
                (*columns[2:], seq),
            )
        for arn, body in db.execute("SELECT arn, body FROM operations").fetchall():
            for callback_id, op_id in callback_ids([_decode_operation(body)]):
                db.execute(
                    "INSERT OR IGNORE INTO callbacks VALUES (?, ?, ?)", (callback_id, arn, op_id)
                )
        latest = max(
            (
                micros(_decode_event(body).event_timestamp)
                for (body,) in db.execute("SELECT body FROM events")
            ),
            default=None,
        )
        if latest is not None:
            db.execute("INSERT INTO meta VALUES ('latest_event', ?)", (latest,))

    # -- writing ---------------------------------------------------------------------------
    def save(
        self,
        record: ExecutionRecord,
        operations: Iterable[Operation],
        events: Iterable[Event],
        trace: Mapping[str, str] | None = None,
    ) -> None:
        """Commit the execution, operations, events and trace entries in one transaction."""
        db = self._db
        arn = record.arn
        seq = self._next_seq
        operations = list(operations)
        events = list(events)
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(_UPSERT_EXECUTION, _columns(record))
            # An operation saved again keeps its first ``seq`` (the upsert leaves it).
            db.executemany(
                "INSERT INTO operations (arn, id, seq, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (arn, id) DO UPDATE SET body = excluded.body",
                [(arn, op.id, next(seq), _encode(op)) for op in operations],
            )
            db.executemany(
                "INSERT OR IGNORE INTO callbacks VALUES (?, ?, ?)",
                [(cid, arn, op_id) for cid, op_id in callback_ids(operations)],
            )
            if events:
                db.executemany(
                    "INSERT INTO events (arn, event_id, body) VALUES (?, ?, ?)",
                    [(arn, event.event_id, _encode(event)) for event in events],
                )
                db.execute(
                    "INSERT INTO meta VALUES ('latest_event', ?) ON CONFLICT (key) "
                    "DO UPDATE SET value = max(value, excluded.value)",
                    (max(micros(e.event_timestamp) for e in events),),
                )
            if trace:
                db.executemany(
                    "INSERT INTO replay_trace VALUES (?, ?, ?) ON CONFLICT (arn, key) "
                    "DO UPDATE SET signature = excluded.signature",
                    [(arn, key, signature) for key, signature in trace.items()],
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------
    def _whole(self, record: ExecutionRecord) -> StoredExecution:
        db, arn = self._db, record.arn
        return StoredExecution(
            record,
            [
                _decode_operation(body)
                for (body,) in db.execute(
                    "SELECT body FROM operations WHERE arn = ? ORDER BY seq", (arn,)
                )
            ],
            [
                _decode_event(body)
                for (body,) in db.execute(
                    "SELECT body FROM events WHERE arn = ? ORDER BY event_id", (arn,)
                )
            ],
            dict(db.execute("SELECT key, signature FROM replay_trace WHERE arn = ?", (arn,))),
        )

    def load_running(self) -> list[StoredExecution]:
        """The executions that have not ended (an index holds them), oldest first."""
        rows = self._db.execute("SELECT record FROM executions WHERE open = 1 ORDER BY seq")
        return [self._whole(_decode_record(body)) for (body,) in rows.fetchall()]

    def load_execution(self, arn: str) -> StoredExecution | None:
        """One execution, whole."""
        record = self.load_record(arn)
        return self._whole(record) if record is not None else None

    def load_record(self, arn: str) -> ExecutionRecord | None:
        """One execution's record."""
        row = self._db.execute("SELECT record FROM executions WHERE arn = ?", (arn,)).fetchone()
        return _decode_record(row[0]) if row is not None else None

    def find_name(self, function_name: str, name: str) -> ExecutionRecord | None:
        """The execution named ``name`` of ``function_name``."""
        row = self._db.execute(
            "SELECT record FROM executions WHERE function_name = ? AND name = ?",
            (function_name, name),
        ).fetchone()
        return _decode_record(row[0]) if row is not None else None

    def find_callback(self, callback_id: str) -> tuple[str, str] | None:
        """Where a callback id was issued."""
        row = self._db.execute(
            "SELECT arn, operation_id FROM callbacks WHERE callback_id = ?", (callback_id,)
        ).fetchone()
        return (row[0], row[1]) if row is not None else None

    def list_executions(
        self, query: ExecutionQuery, *, marker: str | None, limit: int
    ) -> tuple[list[ExecutionRecord], str | None]:
        """One page of an indexed query; the marker is the last row's ``seq``."""
        where, params = self._filters(query)
        after = parse_marker(marker)
        if after is not None:
            where.append("seq < ?" if query.reverse else "seq > ?")
            params.append(after)
        sql = (
            "SELECT seq, record FROM executions"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY seq {'DESC' if query.reverse else 'ASC'} LIMIT ?"
        )
        rows = self._db.execute(sql, (*params, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        records = [_decode_record(body) for _, body in rows]
        return records, (str(rows[-1][0]) if more and rows else None)

    @staticmethod
    def _filters(query: ExecutionQuery) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if query.function_name is not None:
            where.append("function_name = ?")
            params.append(query.function_name)
        if query.statuses is not None:
            where.append(f"status IN ({', '.join('?' * len(query.statuses))})")
            params.extend(sorted(query.statuses))
        if query.name is not None:
            where.append("name = ?")
            params.append(query.name)
        if query.started_after is not None:
            where.append("started > ?")
            params.append(micros(query.started_after))
        if query.started_before is not None:
            where.append("started < ?")
            params.append(micros(query.started_before))
        return where, params

    def function_names(self) -> list[str]:
        """Functions with executions in the file (read from an index)."""
        rows = self._db.execute("SELECT DISTINCT function_name FROM executions ORDER BY 1")
        return [name for (name,) in rows]

    def latest_event_time(self) -> datetime | None:
        """The latest event timestamp committed."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'latest_event'").fetchone()
        return _EPOCH + timedelta(microseconds=row[0]) if row is not None else None

    def load(self) -> list[StoredExecution]:
        """Every stored execution, whole, oldest first (for tools; reads the whole file)."""
        rows = self._db.execute("SELECT record FROM executions ORDER BY seq").fetchall()
        return [self._whole(_decode_record(body)) for (body,) in rows]

    def delete(self, arn: str) -> None:
        """Delete the execution in one transaction, then fold the WAL into the file.

        With ``secure_delete`` the freed pages are zeroed; checkpointing the WAL (and
        truncating it) drops the older page images that still held the data.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            # Deleting the row of ``executions`` deletes its trace and callback ids too
            # (the ``executions_deleted`` trigger).
            for table in ("events", "operations", "executions"):
                db.execute(f"DELETE FROM {table} WHERE arn = ?", (arn,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()
