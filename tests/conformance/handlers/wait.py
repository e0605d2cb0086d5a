"""Suite 2: waits."""

from __future__ import annotations

from datetime import timedelta

from aiodurable import DurableContext, durable_execution

from ..execution_logs import LOGS


@durable_execution(logging=LOGS)
async def req_2_1(event: None, ctx: DurableContext) -> None:
    await ctx.wait(timedelta(seconds=2))


@durable_execution(logging=LOGS)
async def req_2_2(event: None, ctx: DurableContext) -> None:
    await ctx.wait(timedelta(seconds=2), name="custom_wait_name")


@durable_execution(logging=LOGS)
async def req_2_3(event: None, ctx: DurableContext) -> dict[str, int]:
    await ctx.wait(timedelta(seconds=2), name="wait-1")
    await ctx.wait(timedelta(seconds=2), name="wait-2")
    return {"completedWaits": 2}


@durable_execution(logging=LOGS)
async def req_2_4(event: None, ctx: DurableContext) -> None:
    await ctx.wait(timedelta(minutes=1))


@durable_execution(logging=LOGS)
async def req_2_5(event: None, ctx: DurableContext) -> None:
    await ctx.wait(timedelta(hours=1))
