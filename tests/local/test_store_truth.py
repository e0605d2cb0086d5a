"""The store is the truth: the backend holds running executions only, reads finished ones
back when asked, lists from the store page by page, and opens a store without reading
the executions that have ended. The replay trace is saved with the checkpoints."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from aiodurable import DurableContext, durable_execution
from aiodurable.local import LocalBackend, MemoryStore, SqliteStore, Store, VirtualClock
from aiodurable.local.history import Event, EventType
from aiodurable.local.records import ExecutionRecord, ExecutionStatus, PauseState
from aiodurable.local.registry import RECENT_FINISHED
from aiodurable.local.store import ExecutionQuery
from aiodurable.wire import CallbackDetails, Operation, OperationStatus, OperationType

START = datetime(2026, 1, 1, tzinfo=UTC)
StoreFactory = Callable[[], Store]


@durable_execution
async def greet(event: dict[str, str], ctx: DurableContext) -> str:
    hello = await ctx.step(lambda: f"hello {event['who']}", name="hello")
    await ctx.wait(60, name="pause")
    return hello


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if request.param == "memory":
        memory = MemoryStore()
        return lambda: memory
    return lambda: SqliteStore(tmp_path / "local.db")


def vm_steps(db: sqlite3.Connection, action: Callable[[], object]) -> int:
    """SQLite virtual-machine instructions run while ``action()`` runs (not a time)."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    db.set_progress_handler(tick, 1)
    try:
        action()
    finally:
        db.set_progress_handler(None, 1)
    return count


def record(
    name: str, function: str = "f", *, status: str = "SUCCEEDED", at: int = 0
) -> ExecutionRecord:
    started = START + timedelta(seconds=at)
    return ExecutionRecord(
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function}/durable-execution/{name}/id",
        function_name=function,
        name=name,
        status=ExecutionStatus(status),
        start_timestamp=started,
        execution_timeout=3600,
        timeout_at=started + timedelta(hours=1),
    )


def started_event(at: int) -> Event:
    return Event(
        event_type=EventType.EXECUTION_STARTED,
        event_id=1,
        event_timestamp=START + timedelta(seconds=at),
    )


# -- the backend's memory ----------------------------------------------------------------
async def test_finished_executions_leave_the_registry_and_are_read_back(
    store_factory: StoreFactory,
) -> None:
    runs = RECENT_FINISHED + 8
    async with LocalBackend(
        store=store_factory(), clock=VirtualClock(), functions={"greet": greet}
    ) as backend:
        first = backend.start_execution("greet", '{"who": "ada"}', name="first")
        await backend.wait_for_completion(first.arn)
        seen = (
            backend.describe(first.arn),
            backend.operations(first.arn),
            backend.history(first.arn),
        )
        for i in range(runs):
            info = backend.start_execution("greet", f'{{"who": "p{i}"}}')
            await backend.wait_for_completion(info.arn)

        registry = backend._registry
        assert registry.executions == {}  # nothing runs, nothing is held for good
        assert registry.callbacks == {}
        assert len(registry._recent) == RECENT_FINISHED
        assert first.arn not in registry._recent
        # Read back from the store, as it was when it ended.
        assert (
            backend.describe(first.arn),
            backend.operations(first.arn),
            backend.history(first.arn),
        ) == seen
        assert backend.describe(first.arn).result == '"hello ada"'
        # Starting the same name again finds it in the store (idempotent start).
        assert backend.start_execution("greet", '{"who": "ada"}', name="first").arn == first.arn
        assert len(backend.executions("greet", ["SUCCEEDED"])) == runs + 1


async def test_a_running_execution_is_held_until_it_ends(store_factory: StoreFactory) -> None:
    async with LocalBackend(
        store=store_factory(), clock=VirtualClock(auto_advance=False), functions={"greet": greet}
    ) as backend:
        arn = backend.start_execution("greet", '{"who": "ada"}').arn
        await backend.wait_until(lambda: backend.stalled)
        assert list(backend._registry.executions) == [arn]
        backend.advance(60)
        await backend.wait_for_completion(arn)
        assert backend._registry.executions == {}


def test_the_memory_store_keeps_a_finished_execution_as_one_compressed_blob() -> None:
    store = MemoryStore()
    running = record("a", status="RUNNING")
    ops = [
        Operation(
            id=f"s{i}",
            type=OperationType.STEP,
            status=OperationStatus.SUCCEEDED,
            start_timestamp=START,
        )
        for i in range(50)
    ]
    store.save(running, ops, [started_event(0)], {"s0": "|abc"})
    entry = store._executions[running.arn]
    assert entry.packed is None and len(entry.operations) == 50

    finished = msgspec.structs.replace(running, status=ExecutionStatus.SUCCEEDED)
    store.save(finished, [], [])
    assert entry.packed is not None and entry.operations == {} and entry.events == []
    assert len(entry.packed) < sum(len(msgspec.json.encode(op)) for op in ops)
    loaded = store.load_execution(running.arn)
    assert loaded is not None
    assert loaded.record == finished and loaded.operations == ops and loaded.trace == {"s0": "|abc"}
    assert store.load_running() == []


# -- opening a store ---------------------------------------------------------------------
def fill(path: Path, finished: int) -> SqliteStore:
    store = SqliteStore(path)
    store._db.execute("PRAGMA synchronous=OFF")
    ops = [
        Operation(
            id=f"s{i}",
            type=OperationType.STEP,
            status=OperationStatus.SUCCEEDED,
            start_timestamp=START,
        )
        for i in range(5)
    ]
    for i in range(finished):
        store.save(record(f"done-{i}", at=i), ops, [started_event(i)])
    store.save(record("running", status="RUNNING", at=finished), ops, [started_event(finished)])
    return store


def opening_cost(path: Path, finished: int) -> int:
    """VM steps to do what opening a backend asks of its store, over ``finished`` ended
    executions and one running."""
    fill(path, finished).close()
    store = SqliteStore(path)
    loaded: list[object] = []

    def open_() -> None:
        loaded.extend([store._operation_counter(), store.latest_event_time()])
        loaded.extend(s.record.name for s in store.load_running())

    cost = vm_steps(store._db, open_)
    store.close()
    assert loaded[1:] == [START + timedelta(seconds=finished), "running"]
    return cost


def test_opening_a_sqlite_store_reads_only_the_executions_that_run(tmp_path: Path) -> None:
    # A hundred times more finished executions: the same work, give or take an index level.
    assert opening_cost(tmp_path / "a.db", 2_000) < opening_cost(tmp_path / "b.db", 20) * 1.5


async def test_a_backend_opened_over_a_store_holds_only_its_running_executions(
    tmp_path: Path,
) -> None:
    fill(tmp_path / "local.db", 50).close()
    async with LocalBackend(
        store=SqliteStore(tmp_path / "local.db"), clock=VirtualClock(START, auto_advance=False)
    ) as backend:
        assert [ex.record.name for ex in backend._registry.executions.values()] == ["running"]
        assert len(backend.executions()) == 51
        assert backend.clock.now() == START + timedelta(seconds=50)


# -- listing -----------------------------------------------------------------------------
def listing_cost(path: Path, finished: int) -> int:
    """VM steps to list the one execution of function ``g`` among ``finished`` of ``f``."""
    store = fill(path, finished)
    store.save(record("other", function="g", at=finished + 1), [], [])
    query = ExecutionQuery(function_name="g")
    cost = vm_steps(store._db, lambda: store.list_executions(query, marker=None, limit=10))
    page, marker = store.list_executions(query, marker=None, limit=10)
    assert [r.name for r in page] == ["other"] and marker is None
    store.close()
    return cost


def test_listing_pages_come_from_an_indexed_query(tmp_path: Path) -> None:
    assert listing_cost(tmp_path / "a.db", 3_000) < listing_cost(tmp_path / "b.db", 100) * 1.5


def listed(store: Store, query: ExecutionQuery, limit: int) -> list[list[str]]:
    pages, marker = [], None
    while True:
        page, marker = store.list_executions(query, marker=marker, limit=limit)
        pages.append([r.name for r in page])
        if marker is None:
            return pages


def test_listing_filters_and_pages_alike_in_both_stores(tmp_path: Path) -> None:
    for store in (MemoryStore(), SqliteStore(tmp_path / "local.db")):
        for i in range(7):
            store.save(
                record(f"f{i}", "f", status="FAILED" if i % 3 == 0 else "SUCCEEDED", at=i), [], []
            )
            store.save(record(f"g{i}", "g", at=i), [], [])
        assert listed(store, ExecutionQuery(function_name="f"), 3) == [
            ["f0", "f1", "f2"],
            ["f3", "f4", "f5"],
            ["f6"],
        ]
        assert listed(store, ExecutionQuery(function_name="f", reverse=True), 4) == [
            ["f6", "f5", "f4", "f3"],
            ["f2", "f1", "f0"],
        ]
        assert listed(store, ExecutionQuery(statuses=frozenset({"FAILED"})), 10) == [
            ["f0", "f3", "f6"]
        ]
        assert listed(store, ExecutionQuery(function_name="g", name="g4"), 10) == [["g4"]]
        window = ExecutionQuery(
            function_name="g",
            started_after=START + timedelta(seconds=1),
            started_before=START + timedelta(seconds=5),
        )
        assert listed(store, window, 2) == [["g2", "g3"], ["g4"]]
        assert store.function_names() == ["f", "g"]
        with pytest.raises(ValueError, match="Marker"):
            store.list_executions(ExecutionQuery(), marker="not-a-marker", limit=1)
        store.close()


# -- a file of the first layout ----------------------------------------------------------
def test_a_file_of_the_first_layout_is_upgraded_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE executions (seq INTEGER PRIMARY KEY AUTOINCREMENT, arn TEXT NOT NULL "
        "UNIQUE, record BLOB NOT NULL); CREATE TABLE operations (arn TEXT NOT NULL, id TEXT "
        "NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (arn, id)); CREATE "
        "TABLE events (arn TEXT NOT NULL, event_id INTEGER NOT NULL, body BLOB NOT NULL, "
        "PRIMARY KEY (arn, event_id));"
    )
    done, running = record("done"), record("running", status="RUNNING", at=5)
    callback = Operation(
        id="c1",
        type=OperationType.CALLBACK,
        status=OperationStatus.STARTED,
        start_timestamp=START,
        callback_details=CallbackDetails(callback_id="cb-1"),
    )
    for seq, r in enumerate((done, running)):
        db.execute(
            "INSERT INTO executions (arn, record) VALUES (?, ?)", (r.arn, msgspec.json.encode(r))
        )
        db.execute(
            "INSERT INTO events VALUES (?, 1, ?)",
            (r.arn, msgspec.json.encode(started_event(seq * 5))),
        )
    db.execute(
        "INSERT INTO operations VALUES (?, 'c1', 7, ?)",
        (running.arn, msgspec.json.encode(callback)),
    )
    db.commit()
    db.close()

    store = SqliteStore(path)
    assert store._db.execute("PRAGMA user_version").fetchone() == (1,)
    assert [s.record.name for s in store.load_running()] == ["running"]
    assert store.find_callback("cb-1") == (running.arn, "c1")
    assert store.latest_event_time() == START + timedelta(seconds=5)
    assert listed(store, ExecutionQuery(statuses=frozenset({"SUCCEEDED"})), 5) == [["done"]]
    assert next(store._next_seq) == 8  # operations keep their first-saved order
    store.close()


# -- the replay trace --------------------------------------------------------------------
release = asyncio.Event()


async def hold() -> str:
    await release.wait()
    return "released"


@durable_execution
async def mapped(event: dict[str, str], ctx: DurableContext) -> str:
    await ctx.map(
        ["x", "y"],
        lambda child, item, index: child.step(lambda: item, name="echo"),
        name="echo-all",
    )
    return await ctx.step(hold, name="hold")


async def test_the_replay_trace_is_committed_with_the_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "local.db"
    release.clear()
    async with LocalBackend(
        store=SqliteStore(path), clock=VirtualClock(), functions={"m": mapped}
    ) as backend:
        arn = backend.start_execution("m", "{}").arn
        await backend.wait_until(lambda: any(op.name == "hold" for op in backend.operations(arn)))
        # The invocation still runs; another connection sees the map's items committed.
        other = sqlite3.connect(path)
        keys = [k for (k,) in other.execute("SELECT key FROM replay_trace WHERE arn = ?", (arn,))]
        assert any(k.endswith("#items") for k in keys), keys
        release.set()
        await backend.wait_for_completion(arn)

        other.execute("DELETE FROM executions WHERE arn = ?", (arn,))
        other.commit()
        assert other.execute("SELECT COUNT(*) FROM replay_trace").fetchone() == (0,)
        other.close()


def test_a_paused_execution_is_listed_as_paused_and_a_deleted_one_leaves_nothing(
    tmp_path: Path,
) -> None:
    for store in (MemoryStore(), SqliteStore(tmp_path / "local.db")):
        paused = msgspec.structs.replace(
            record("p", status="RUNNING"), pause=PauseState(requested_at=START, paused_at=START)
        )
        callback = Operation(
            id="c1",
            type=OperationType.CALLBACK,
            status=OperationStatus.STARTED,
            start_timestamp=START,
            callback_details=CallbackDetails(callback_id="cb-p"),
        )
        store.save(paused, [callback], [started_event(0)], {"c1": "|x"})
        assert listed(store, ExecutionQuery(statuses=frozenset({"PAUSED"})), 5) == [["p"]]
        assert listed(store, ExecutionQuery(statuses=frozenset({"RUNNING"})), 5) == [[]]
        assert [s.record.name for s in store.load_running()] == ["p"]  # it still runs

        store.delete(paused.arn)
        assert store.load_execution(paused.arn) is None
        assert store.find_callback("cb-p") is None
        assert store.find_name("f", "p") is None
        assert listed(store, ExecutionQuery(), 5) == [[]]
        store.close()
    leftover = sqlite3.connect(tmp_path / "local.db")
    assert leftover.execute("SELECT COUNT(*) FROM replay_trace").fetchone() == (0,)
    leftover.close()
