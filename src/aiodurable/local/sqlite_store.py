"""A SQLite store (stdlib ``sqlite3``): executions survive restarts and ``SIGKILL``.

Every :meth:`SqliteStore.save` is one transaction, committed before the backend
acknowledges the change it records. The transactions are small (one execution row, the
operations an update touched, the events it produced) and run synchronously on the
event loop: the local backend uses no threads, and for a development backend a
sub-millisecond write is cheaper than a thread hop. The database is opened in WAL mode
with ``synchronous=FULL``; the file is created readable by its owner only (0600).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import msgspec

from aiodurable.local.history import Event
from aiodurable.local.records import ExecutionRecord
from aiodurable.local.store import StoredExecution
from aiodurable.wire import Operation

__all__ = ["SqliteStore"]

_SCHEMA = """
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

_encode = msgspec.json.Encoder().encode


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
        self._db.executescript(_SCHEMA)
        # Operations are loaded in the order they were first saved. One counter over the
        # whole file gives that order in O(1) per saved operation (gaps are harmless).
        (last,) = self._db.execute("SELECT MAX(seq) FROM operations").fetchone()
        self._next_seq = itertools.count(0 if last is None else last + 1)

    def load(self) -> list[StoredExecution]:
        """Every stored execution, oldest first."""
        db = self._db
        loaded: dict[str, StoredExecution] = {}
        for (record,) in db.execute("SELECT record FROM executions ORDER BY seq"):
            rec = msgspec.json.decode(record, type=ExecutionRecord)
            loaded[rec.arn] = StoredExecution(rec)
        for arn, body in db.execute("SELECT arn, body FROM operations ORDER BY arn, seq"):
            if arn in loaded:
                loaded[arn].operations.append(msgspec.json.decode(body, type=Operation))
        for arn, body in db.execute("SELECT arn, body FROM events ORDER BY arn, event_id"):
            if arn in loaded:
                loaded[arn].events.append(msgspec.json.decode(body, type=Event))
        return list(loaded.values())

    def save(
        self, record: ExecutionRecord, operations: Iterable[Operation], events: Iterable[Event]
    ) -> None:
        """Commit the execution, operations and events in one transaction."""
        db = self._db
        arn = record.arn
        seq = self._next_seq
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO executions (arn, record) VALUES (?, ?) "
                "ON CONFLICT (arn) DO UPDATE SET record = excluded.record",
                (arn, _encode(record)),
            )
            # An operation saved again keeps its first ``seq`` (the upsert leaves it).
            db.executemany(
                "INSERT INTO operations (arn, id, seq, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (arn, id) DO UPDATE SET body = excluded.body",
                [(arn, op.id, next(seq), _encode(op)) for op in operations],
            )
            db.executemany(
                "INSERT INTO events (arn, event_id, body) VALUES (?, ?, ?)",
                [(arn, event.event_id, _encode(event)) for event in events],
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def delete(self, arn: str) -> None:
        """Delete the execution in one transaction, then fold the WAL into the file.

        With ``secure_delete`` the freed pages are zeroed; checkpointing the WAL (and
        truncating it) drops the older page images that still held the data.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
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
