"""Suite 3: child contexts."""

from __future__ import annotations

from typing import Any

from aiodurable import (
    ChildContextError,
    DurableContext,
    RetryStrategy,
    SerdesContext,
    StepContext,
    durable_execution,
)

from ..execution_logs import LOGS, LOGS_DURING_REPLAY
from .crash import crash_once

NO_RETRY = RetryStrategy.no_retry()
ONE_SECOND_RETRY = RetryStrategy(max_attempts=2, initial_delay=1, backoff_rate=1)


def echo(value: str) -> str:
    return value


@durable_execution(logging=LOGS)
async def req_3_1(event: str, ctx: DurableContext) -> str:
    async def body(child: DurableContext) -> str:
        return await child.step(echo, event)

    return await ctx.run_in_child_context(body)


@durable_execution(logging=LOGS)
async def req_3_2(event: dict[str, str], ctx: DurableContext) -> str:
    async def body(child: DurableContext) -> str:
        return await child.step(echo, event["value"])

    return await ctx.run_in_child_context(body, name=event["name"])


@durable_execution(logging=LOGS)
async def req_3_3(event: str, ctx: DurableContext) -> str:
    async def two_steps(child: DurableContext) -> str:
        first = await child.step(echo, event)
        return await child.step(echo, first)

    return await ctx.run_in_child_context(two_steps, name="two_steps")


@durable_execution(logging=LOGS)
async def req_3_4(event: None, ctx: DurableContext) -> str:
    def fail() -> str:
        raise RuntimeError("inner step failed")

    async def failing_child(child: DurableContext) -> str:
        return await child.step(fail, retry=NO_RETRY)

    return await ctx.run_in_child_context(failing_child, name="failing_child")


@durable_execution(logging=LOGS)
async def req_3_5(event: str, ctx: DurableContext) -> str:
    def fail() -> str:
        raise RuntimeError("inner step failed")

    async def failing_child(child: DurableContext) -> str:
        return await child.step(fail, retry=NO_RETRY)

    try:
        return await ctx.run_in_child_context(failing_child)
    except ChildContextError:
        return await ctx.step(echo, event, name="recover")


@durable_execution(logging=LOGS)
async def req_3_6(event: str, ctx: DurableContext) -> str:
    async def inner(child: DurableContext) -> str:
        return await child.step(echo, event)

    async def outer(child: DurableContext) -> str:
        await child.step(echo, event)
        return await child.run_in_child_context(inner, name="inner")

    return await ctx.run_in_child_context(outer, name="outer")


@durable_execution(logging=LOGS)
async def req_3_7(event: str, ctx: DurableContext) -> str:
    def flaky(value: str) -> str:
        if StepContext.current().attempt == 1:
            raise RuntimeError("first attempt fails")
        return value

    async def retrying_child(child: DurableContext) -> str:
        return await child.step(flaky, event, retry=ONE_SECOND_RETRY)

    return await ctx.run_in_child_context(retrying_child, name="retrying_child")


@durable_execution(logging=LOGS)
async def req_3_8(event: None, ctx: DurableContext) -> str:
    def always_fail() -> str:
        raise RuntimeError("always fails")

    async def exhausted_child(child: DurableContext) -> str:
        return await child.step(always_fail, retry=ONE_SECOND_RETRY)

    return await ctx.run_in_child_context(exhausted_child, name="exhausted_child")


@durable_execution(logging=LOGS)
async def req_3_9(event: str, ctx: DurableContext) -> str:
    async def body(child: DurableContext) -> str:
        return await child.step(echo, event)

    result = await ctx.run_in_child_context(body)
    await ctx.wait(1)
    return result


@durable_execution(logging=LOGS)
async def req_3_10(event: str, ctx: DurableContext) -> str:
    async def step_then_wait(child: DurableContext) -> str:
        result = await child.step(echo, event)
        await child.wait(1)
        return result

    return await ctx.run_in_child_context(step_then_wait, name="step_then_wait")


LARGE_RESULT_CHARS = 300 * 1024  # over the 256 KiB inline limit for context results


@durable_execution(logging=LOGS_DURING_REPLAY)
async def req_3_11(event: str, ctx: DurableContext) -> int:
    async def large_child(child: DurableContext) -> str:
        child.logger.info(f"building a large result for {event}")
        small = await child.step(echo, event)
        return small * (LARGE_RESULT_CHARS // len(small) + 1)

    large = await ctx.run_in_child_context(large_child, name="large_child")
    await ctx.wait(1)
    return len(large)


@durable_execution(logging=LOGS)
async def req_3_12(event: str, ctx: DurableContext) -> str:
    def crashing(value: str) -> str:
        crash_once(ctx.execution_arn)
        return value

    async def body(child: DurableContext) -> str:
        return await child.step(crashing, event)

    return await ctx.run_in_child_context(body)


@durable_execution(logging=LOGS)
async def req_3_13(event: str, ctx: DurableContext) -> str:
    async def only_wait(child: DurableContext) -> str:
        await child.wait(1)
        return event

    result = await ctx.run_in_child_context(only_wait, name="only_wait")
    return await ctx.step(echo, result)


class UppercaseText:
    """Stores a string upper-cased, as raw text."""

    def serialize(self, value: str, context: SerdesContext) -> str | None:
        return value.upper()

    def deserialize(self, text: str, context: SerdesContext) -> str:
        return text


@durable_execution(logging=LOGS)
async def req_3_14(event: str, ctx: DurableContext) -> str:
    async def body(child: DurableContext) -> str:
        return await child.step(echo, event)

    return await ctx.run_in_child_context(body, name="uppercase", serdes=UppercaseText())


@durable_execution(logging=LOGS)
async def req_3_15(event: None, ctx: DurableContext) -> str:
    async def throws(child: DurableContext) -> str:
        raise RuntimeError("child failed without a durable operation")

    return await ctx.run_in_child_context(throws, name="throws")


@durable_execution(logging=LOGS)
async def req_3_16(event: None, ctx: DurableContext) -> Any:
    async def returns_null(child: DurableContext) -> None:
        return None

    return await ctx.run_in_child_context(returns_null, name="returns_null")


@durable_execution(logging=LOGS_DURING_REPLAY)
async def req_3_17(event: str, ctx: DurableContext) -> str:
    async def logs_only(child: DurableContext) -> str:
        child.logger.info(f"child body ran for {event}")
        return event

    result = await ctx.run_in_child_context(logs_only, name="logs_only")
    await ctx.wait(1)
    return result


@durable_execution(logging=LOGS)
async def req_3_18(event: str, ctx: DurableContext) -> str:
    async def step_then_wait(child: DurableContext) -> str:
        result = await child.step(echo, event)
        await child.wait(1)
        return result

    result = await ctx.run_in_child_context(step_then_wait, name="step_then_wait")
    outer = await ctx.step(echo, result)
    await ctx.wait(1)
    return outer
