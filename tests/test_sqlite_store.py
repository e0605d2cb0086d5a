"""The SQLite store keeps operations in the order they were first saved, and saving one
more operation costs the same however many the execution already has."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiodurable.local import SqliteStore
from aiodurable.local.records import ExecutionRecord
from aiodurable.wire import Operation, OperationStatus, OperationType

START = datetime(2026, 1, 1, tzinfo=UTC)


def record(name: str) -> ExecutionRecord:
    return ExecutionRecord(
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:f/durable-execution/{name}/id",
        function_name="f",
        name=name,
        start_timestamp=START,
        execution_timeout=3600,
        timeout_at=START + timedelta(hours=1),
    )


def step(op_id: str, status: OperationStatus = OperationStatus.STARTED) -> Operation:
    return Operation(id=op_id, type=OperationType.STEP, status=status, start_timestamp=START)


def vm_steps(db: sqlite3.Connection, action: object) -> int:
    """SQLite virtual-machine instructions run while ``action()`` runs (not a time)."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    db.set_progress_handler(tick, 1)
    try:
        action()  # type: ignore[operator]
    finally:
        db.set_progress_handler(None, 1)
    return count


def test_operations_load_in_first_saved_order_across_reopens(tmp_path: Path) -> None:
    path = tmp_path / "local.db"
    a, b = record("a"), record("b")
    store = SqliteStore(path)
    store.save(a, [step("z"), step("y")], [])
    store.save(b, [step("b1")], [])
    store.save(a, [step("z", OperationStatus.SUCCEEDED), step("x")], [])
    store.close()

    store = SqliteStore(path)
    store.save(a, [step("w"), step("y", OperationStatus.SUCCEEDED)], [])
    loaded = {s.record.name: s for s in store.load()}
    store.close()

    assert [(op.id, op.status) for op in loaded["a"].operations] == [
        ("z", OperationStatus.SUCCEEDED),
        ("y", OperationStatus.SUCCEEDED),
        ("x", OperationStatus.STARTED),
        ("w", OperationStatus.STARTED),
    ]
    assert [op.id for op in loaded["b"].operations] == ["b1"]


def test_saving_an_operation_does_not_scan_the_executions_operations(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "local.db")
    small, large = record("small"), record("large")
    store.save(small, [step(f"s{i}") for i in range(10)], [])
    store.save(large, [step(f"l{i}") for i in range(5_000)], [])

    db = store._db
    into_small = vm_steps(db, lambda: store.save(small, [step("s-new")], []))
    into_large = vm_steps(db, lambda: store.save(large, [step("l-new")], []))
    store.close()

    # Counting the execution's operations per save would cost thousands of instructions
    # more for the large execution; an index lookup costs a handful more.
    assert into_large < into_small + 200, (into_small, into_large)
