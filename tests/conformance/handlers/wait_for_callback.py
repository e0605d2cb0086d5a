"""Suite 7: wait_for_callback."""

from __future__ import annotations

from datetime import timedelta

from aiodurable import CallbackError, DurableContext, Jitter, RetryStrategy, durable_execution

from ..execution_logs import LOGS


def notify(callback_id: str) -> None:
    """Hand the callback id to the external system (nothing durable happens here)."""


@durable_execution(logging=LOGS)
async def req_7_1(event: str, ctx: DurableContext) -> str:
    return await ctx.wait_for_callback(notify, name=event)


@durable_execution(logging=LOGS)
async def req_7_2(event: None, ctx: DurableContext) -> str:
    return await ctx.wait_for_callback(notify, name="approval")


@durable_execution(logging=LOGS)
async def req_7_3(event: None, ctx: DurableContext) -> str:
    return await ctx.wait_for_callback(lambda callback_id: None)


@durable_execution(logging=LOGS)
async def req_7_4(event: str, ctx: DurableContext) -> str:
    return await ctx.wait_for_callback(notify, name=event)


@durable_execution(logging=LOGS)
async def req_7_5(event: str, ctx: DurableContext) -> str:
    return await ctx.wait_for_callback(notify, name=event, timeout=timedelta(seconds=3))


@durable_execution(logging=LOGS)
async def req_7_6(event: str, ctx: DurableContext) -> str:
    try:
        return await ctx.wait_for_callback(notify, name=event)
    except CallbackError:
        return "recovered"


@durable_execution(logging=LOGS)
async def req_7_7(event: str, ctx: DurableContext) -> str:
    def broken_submitter(callback_id: str) -> None:
        raise RuntimeError("could not reach the approver")

    retry = RetryStrategy(max_attempts=2, initial_delay=1, backoff_rate=1, jitter=Jitter.NONE)
    return await ctx.wait_for_callback(broken_submitter, name=event, retry=retry)


@durable_execution(logging=LOGS)
async def req_7_8(event: str, ctx: DurableContext) -> str:
    async def wrapper(child: DurableContext) -> str:
        return await child.wait_for_callback(notify, name=event)

    return await ctx.run_in_child_context(wrapper, name="wrapper")


@durable_execution(logging=LOGS)
async def req_7_9(event: None, ctx: DurableContext) -> str:
    await ctx.wait_for_callback(notify, name="first")
    return await ctx.wait_for_callback(notify, name="second")


@durable_execution(logging=LOGS)
async def req_7_10(event: str, ctx: DurableContext) -> str:
    await ctx.wait(1)
    await ctx.step(lambda: {"order": 42}, name="prepare")
    return await ctx.wait_for_callback(notify, name=event)


@durable_execution(logging=LOGS)
async def req_7_11(event: str, ctx: DurableContext) -> str:
    decision = await ctx.wait_for_callback(notify, name=event, result_type=dict[str, str])
    return decision["status"]


@durable_execution(logging=LOGS)
async def req_7_12(event: str, ctx: DurableContext) -> str:
    return await ctx.wait_for_callback(notify, name=event, heartbeat_timeout=timedelta(seconds=5))


@durable_execution(logging=LOGS)
async def req_7_13(event: str, ctx: DurableContext) -> str:
    return await ctx.wait_for_callback(notify, name=event, heartbeat_timeout=timedelta(seconds=10))


@durable_execution(logging=LOGS)
async def req_7_14(event: str, ctx: DurableContext) -> str:
    try:
        return await ctx.wait_for_callback(notify, name=event, timeout=timedelta(seconds=3))
    except CallbackError:
        return "timed-out-handled"


@durable_execution(logging=LOGS)
async def req_7_15(event: str, ctx: DurableContext) -> str:
    return await ctx.wait_for_callback(notify, name=event)
