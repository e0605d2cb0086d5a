"""Executions survive a restart of the backend, and a SIGKILL with the SQLite store."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiodurable import DurableContext, durable_execution
from aiodurable.local import (
    EventType,
    LocalBackend,
    MemoryStore,
    SqliteStore,
    Store,
    VirtualClock,
)

from .held import HeldTarget


@durable_execution
async def nap(event: dict[str, str], ctx: DurableContext) -> str:
    first = await ctx.step(lambda: "slept", name="before")
    await ctx.wait(3600, name="nap")
    return f"{first} for {event['who']}"


StoreFactory = Callable[[], Store]


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if request.param == "memory":
        memory = MemoryStore()
        return lambda: memory
    return lambda: SqliteStore(tmp_path / "state" / "local.db")


async def test_a_suspended_execution_resumes_after_a_restart(store_factory: StoreFactory) -> None:
    async with LocalBackend(
        store=store_factory(), clock=VirtualClock(auto_advance=False), functions={"nap": nap}
    ) as backend:
        arn = backend.start_execution("nap", '{"who": "ada"}', name="nap-1").arn
        await backend.wait_until(
            lambda: (
                not backend.is_invoking(arn)
                and any(
                    e.event_type is EventType.INVOCATION_COMPLETED for e in backend.history(arn)
                )
            )
        )
        before = backend.history(arn)

    async with LocalBackend(
        store=store_factory(), clock=VirtualClock(), functions={"nap": nap}
    ) as backend:
        assert backend.history(arn) == before
        assert backend.start_execution("nap", '{"who": "ada"}', name="nap-1").arn == arn
        info = await backend.wait_for_completion(arn)

    assert info.status == "SUCCEEDED"
    assert info.result == '"slept for ada"'
    steps = [op for op in backend.operations(arn) if op.name == "before"]
    assert steps[0].step_details is not None and steps[0].step_details.attempt == 1


async def test_an_invocation_cut_short_by_a_restart_is_recorded_and_run_again(
    store_factory: StoreFactory,
) -> None:
    held = HeldTarget()
    async with LocalBackend(store=store_factory(), functions={"job": held}) as backend:
        arn = backend.start_execution("job", "{}").arn
        await held.next()  # the invocation is running when the backend stops

    async with LocalBackend(store=store_factory(), functions={"job": held}) as backend:
        again = await held.next()
        again.finish({"Status": "SUCCEEDED", "Result": '"done"'})
        info = await backend.wait_for_completion(arn)
        completed = [
            e.invocation_completed_details
            for e in backend.history(arn)
            if e.invocation_completed_details is not None
        ]

    assert info.status == "SUCCEEDED"
    assert completed[0].error is not None and completed[0].error.payload is not None
    assert completed[0].error.payload.error_type == "Runtime.ExitError"
    assert completed[1].error is None


def test_the_sqlite_file_is_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "local.db"
    SqliteStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def _spawn(store: Path, markers: Path) -> asyncio.subprocess.Process:
    worker = Path(__file__).with_name("crash_worker.py")
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(worker),
        str(store),
        str(markers),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


async def _read_until(process: asyncio.subprocess.Process, prefix: str) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(60):
        while line := (await process.stdout.readline()).decode():
            if line.startswith(prefix):
                return line.strip()
    raise AssertionError(f"the worker exited without printing {prefix!r}")


async def test_sigkill_mid_execution_loses_nothing_acknowledged(tmp_path: Path) -> None:
    store, markers = tmp_path / "local.db", tmp_path / "markers"
    markers.mkdir()
    (markers / "hang").touch()

    first = await _spawn(store, markers)
    await _read_until(first, "HANGING")  # step a done, the nap over, step b running
    first.kill()
    await first.wait()

    (markers / "hang").unlink()
    second = await _spawn(store, markers)
    result = await _read_until(second, "RESULT")
    await second.wait()

    assert result == 'RESULT SUCCEEDED "ab"'
    # Every at-most-once attempt ran at most once: a ran once; b's first attempt was
    # interrupted by the kill and b ran again as attempt 2.
    assert sorted(p.name for p in markers.iterdir()) == ["a-1", "b-1", "b-2"]
    (stored,) = SqliteStore(store).load()
    events: list[Any] = stored.events
    crash = [
        e for e in events if e.invocation_completed_details and e.invocation_completed_details.error
    ]
    assert len(crash) == 1
    failed = [e for e in events if e.event_type is EventType.STEP_FAILED]
    assert [e.name for e in failed] == ["b"]
    assert failed[0].step_failed_details.error.payload.error_type.endswith("StepInterruptedError")
