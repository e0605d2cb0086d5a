"""Pause, resume and delete through the runtime: what a workflow sees while paused."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from aiodurable import DurableContext, durable_execution
from aiodurable.local import (
    EventType,
    ExecutionStalledError,
    InvalidParameterError,
    MemoryStore,
    ResourceConflictError,
    ResourceNotFoundError,
    SqliteStore,
    Store,
)
from aiodurable.testing import LocalRunner


class Gate:
    """A step body the test holds inside the invocation until it lets it go."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.released = asyncio.Event()

    async def __call__(self) -> str:
        self.entered.set()
        await self.released.wait()
        return "charged"


gate = Gate()
shipped: list[str] = []


def ship() -> str:
    shipped.append("box")
    return "shipped"


@durable_execution
async def checkout(event: Any, ctx: DurableContext) -> list[str]:
    charged = await ctx.step(gate, name="charge")
    await ctx.wait(timedelta(hours=1), name="cool-off")
    return [charged, await ctx.step(ship, name="ship")]


async def first_invocation_over(runner: LocalRunner[Any], run: Any) -> None:
    await runner.backend.wait_until(lambda: run.events(EventType.INVOCATION_COMPLETED) != [])


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Store:
    return MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "x.db")


async def test_paused_mid_invocation_ends_pending_at_its_next_checkpoint(store: Store) -> None:
    global gate
    gate = Gate()
    shipped.clear()
    async with LocalRunner(checkout, store=store) as runner:
        run = await runner.start()
        await gate.entered.wait()
        run.pause("maintenance")
        assert run.status == "PAUSING"
        assert run.info.pause_reason == "maintenance"

        gate.released.set()
        await run.paused()
        await run.suspended()
        # The checkpoint that answered without a token was stored; nothing ran after it.
        assert run.status == "PAUSED"
        assert run.step("charge").status == "SUCCEEDED"
        assert run.events(EventType.WAIT_STARTED) == []
        assert shipped == []
        [completed] = run.events(EventType.INVOCATION_COMPLETED)
        assert completed.invocation_completed_details.error is None  # type: ignore[union-attr]
        [paused] = run.events(EventType.EXECUTION_PAUSED)
        details = paused.execution_paused_details
        assert details is not None and details.reason is not None
        assert details.reason.payload == "maintenance" and details.execution_timeout_paused

        # Nothing invokes a paused execution, however long it waits.
        runner.advance(timedelta(days=2))
        await run.suspended()
        assert len(run.events(EventType.INVOCATION_COMPLETED)) == 1
        with pytest.raises(ExecutionStalledError, match="is paused"):
            await run.wait()

        run.resume("done")
        result = await run.wait()

    assert result.status == "SUCCEEDED"
    assert result.result == ["charged", "shipped"]
    assert shipped == ["box"]
    kinds = [e.event_type for e in result.events()]
    assert kinds.index(EventType.EXECUTION_PAUSED) < kinds.index(EventType.EXECUTION_RESUMED)
    assert kinds.index(EventType.EXECUTION_RESUMED) < kinds.index(EventType.WAIT_STARTED)


@durable_execution
async def cool_off(event: Any, ctx: DurableContext) -> str:
    await ctx.wait(timedelta(hours=1), name="cool-off")
    return await ctx.step(ship, name="ship")


async def test_a_wait_completes_while_paused_and_resume_invokes_once() -> None:
    shipped.clear()
    async with LocalRunner(cool_off) as runner:
        run = await runner.start()
        await first_invocation_over(runner, run)
        run.pause()
        assert run.status == "PAUSED"  # idle: paused at once

        runner.advance(timedelta(hours=2))
        await run.suspended()
        assert run.wait_operation("cool-off").status == "SUCCEEDED"
        assert len(run.events(EventType.INVOCATION_COMPLETED)) == 1 and shipped == []
        kinds = [e.event_type for e in run.events()]
        assert kinds[-2:] == [EventType.EXECUTION_PAUSED, EventType.WAIT_SUCCEEDED]

        run.resume()
        result = await run.wait()

    assert result.result == "shipped"
    assert result.invocations == 2


async def test_resume_with_nothing_owed_goes_on_waiting() -> None:
    async with LocalRunner(cool_off) as runner:
        run = await runner.start()
        await first_invocation_over(runner, run)
        run.pause()
        run.resume()
        await run.suspended()
        assert run.status == "RUNNING"
        assert len(run.events(EventType.INVOCATION_COMPLETED)) == 1
        result = await run.wait()
    assert result.invocations == 2


async def test_resuming_a_pausing_execution_cancels_the_pause() -> None:
    global gate
    gate = Gate()
    async with LocalRunner(checkout) as runner:
        run = await runner.start()
        await gate.entered.wait()
        run.pause()
        run.resume()
        assert run.status == "RUNNING"
        gate.released.set()
        result = await run.wait()
    assert result.result == ["charged", "shipped"]
    assert result.events(EventType.EXECUTION_PAUSED, EventType.EXECUTION_RESUMED) == []


async def test_the_execution_timeout_stops_while_paused_with_its_timeout_paused() -> None:
    async with LocalRunner(cool_off, execution_timeout=7200) as runner:
        run = await runner.start()
        await first_invocation_over(runner, run)
        before = run.info.expected_timeout_at
        assert before is not None
        run.pause()
        assert run.info.expected_timeout_at == run.info.start_timestamp + timedelta(days=366)
        runner.advance(timedelta(hours=5))  # well past the 2-hour execution timeout
        assert run.status == "PAUSED"
        run.resume()
        assert run.info.expected_timeout_at == before + timedelta(hours=5)
        result = await run.wait()
    assert result.status == "SUCCEEDED"


async def test_without_its_timeout_paused_a_paused_execution_times_out() -> None:
    async with LocalRunner(cool_off, execution_timeout=7200) as runner:
        run = await runner.start()
        await first_invocation_over(runner, run)
        run.pause(execution_timeout_paused=False)
        runner.advance(timedelta(hours=3))
        await run.suspended()
        assert run.status == "TIMED_OUT"
        assert run.info.pause_requested_at is None  # no PauseDetails once it ended


async def test_wrong_states_are_conflicts_and_unknown_arns_not_found() -> None:
    async with LocalRunner(cool_off) as runner:
        run = await runner.start()
        await first_invocation_over(runner, run)
        with pytest.raises(ResourceConflictError, match="only a PAUSING or PAUSED"):
            run.resume()
        with pytest.raises(ResourceConflictError, match="stop it first"):
            run.delete()
        run.pause()
        with pytest.raises(ResourceConflictError, match="resume it first"):
            run.pause()
        run.stop("no longer needed")  # a paused execution can be stopped
        assert run.status == "STOPPED"
        with pytest.raises(ResourceConflictError, match="only a RUNNING"):
            run.pause()
        run.delete()
        with pytest.raises(ResourceNotFoundError):
            runner.backend.describe(run.arn)
        with pytest.raises(ResourceNotFoundError):
            run.delete()


async def test_client_tokens_make_pause_and_resume_idempotent() -> None:
    async with LocalRunner(cool_off) as runner:
        run = await runner.start()
        await first_invocation_over(runner, run)
        backend = runner.backend
        backend.pause_execution(run.arn, reason="r", client_token="t-1")
        backend.pause_execution(run.arn, reason="r", client_token="t-1")  # a retry: fine
        with pytest.raises(InvalidParameterError, match="another request"):
            backend.pause_execution(run.arn, reason="other", client_token="t-1")
        backend.resume_execution(run.arn, client_token="t-2")
        backend.resume_execution(run.arn, client_token="t-2")
        assert len(run.events(EventType.EXECUTION_PAUSED)) == 1
        assert len(run.events(EventType.EXECUTION_RESUMED)) == 1
        runner.advance(timedelta(minutes=16))  # past the 15-minute window: a new request
        with pytest.raises(ResourceConflictError):
            backend.resume_execution(run.arn, client_token="t-2")
