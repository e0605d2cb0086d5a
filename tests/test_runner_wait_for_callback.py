"""``Run.wait_for_callback`` moves virtual time until the callback starts."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from aiodurable import DurableContext, durable_execution
from aiodurable.local import ExecutionStalledError
from aiodurable.testing import LocalRunner


@durable_execution
async def waits_then_asks(event: object, ctx: DurableContext) -> str:
    await ctx.wait(timedelta(hours=6), name="cool-off")
    callback = await ctx.create_callback(
        name="approval", timeout=timedelta(days=1), result_type=str
    )
    answer: str = await callback.result()
    return answer


async def test_a_durable_wait_before_the_callback_passes_in_virtual_time() -> None:
    async with LocalRunner(waits_then_asks) as runner:
        started = runner.now()
        run = await runner.start()
        with anyio.fail_after(30):  # it used to spin here forever
            callback = await run.wait_for_callback("approval")
        assert runner.now() - started >= timedelta(hours=6)
        run.complete_callback(callback.name or "approval", "yes")
        final = await run.wait()

    assert final.status == "SUCCEEDED"
    assert final.result == "yes"


@durable_execution
async def asks_for_something_else(event: object, ctx: DurableContext) -> str:
    await ctx.wait(timedelta(minutes=5))
    callback = await ctx.create_callback(name="other")
    answer: str = await callback.result()
    return answer


async def test_waiting_for_a_callback_that_never_starts_raises_execution_stalled() -> None:
    async with LocalRunner(asks_for_something_else) as runner:
        run = await runner.start()
        with pytest.raises(ExecutionStalledError, match="approval"), anyio.fail_after(30):
            await run.wait_for_callback("approval")
