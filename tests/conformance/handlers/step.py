"""Suite 1: steps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiodurable import (
    DurableContext,
    Jitter,
    RetryDecision,
    RetryStrategy,
    SerdesContext,
    StepContext,
    StepError,
    StepSemantics,
    durable_execution,
)
from aiodurable.serdes import decode_json, encode_json

from ..execution_logs import LOGS
from .crash import crash_once

NO_RETRY = RetryStrategy.no_retry()


class TransientError(Exception):
    """A failure worth retrying."""


def greet(name: str) -> str:
    return f"Hello, {name}!"


def attempt() -> int:
    return StepContext.current().attempt


@durable_execution(logging=LOGS)
async def req_1_1(event: str, ctx: DurableContext) -> str:
    return await ctx.step(greet, event)


@durable_execution(logging=LOGS)
async def req_1_2(event: str, ctx: DurableContext) -> str:
    return await ctx.step(greet, event, name="custom_step_name")


@durable_execution(logging=LOGS)
async def req_1_3(event: None, ctx: DurableContext) -> str:
    def step_one() -> str:
        return "first"

    def step_two(previous: str) -> str:
        return f"{previous}_second"

    first = await ctx.step(step_one)
    return await ctx.step(step_two, first)


@durable_execution(logging=LOGS)
async def req_1_4(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    def build_response(user: dict[str, Any]) -> dict[str, Any]:
        return {"user": {"name": user["name"], "tags": user["tags"]}, "count": len(user["tags"])}

    return await ctx.step(build_response, event)


@durable_execution(logging=LOGS)
async def req_1_5(event: None, ctx: DurableContext) -> None:
    def do_nothing() -> None:
        return None

    return await ctx.step(do_nothing)


class UppercaseSerdes:
    """Stores every string upper-cased."""

    def serialize(self, value: str, context: SerdesContext) -> str | None:
        return encode_json(value.upper())

    def deserialize(self, text: str, context: SerdesContext) -> str:
        return str(decode_json(text, str))


@durable_execution(logging=LOGS)
async def req_1_6(event: str, ctx: DurableContext) -> str:
    def return_input(text: str) -> str:
        return text

    return await ctx.step(return_input, event, serdes=UppercaseSerdes())


@durable_execution(logging=LOGS)
async def req_1_7(event: str, ctx: DurableContext) -> str:
    def greet_logged(name: str) -> str:
        logger = StepContext.current().logger
        logger.info(f"Greeting step started for: {name}")
        greeting = greet(name)
        logger.info(f"Greeting step completed with: {greeting}")
        return greeting

    return await ctx.step(greet_logged, event)


@durable_execution(logging=LOGS)
async def req_1_8(event: None, ctx: DurableContext) -> str:
    result = await ctx.step(lambda: "computed")
    await ctx.wait(timedelta(seconds=2))
    return result


@durable_execution(logging=LOGS)
async def req_1_9(event: None, ctx: DurableContext) -> str:
    def compute() -> str:
        ctx.logger.info("step executed")
        return "cached_value"

    result = await ctx.step(compute)
    await ctx.wait(1)
    return result


@durable_execution(logging=LOGS)
async def req_1_10(event: None, ctx: DurableContext) -> str:
    def fail() -> str:
        ctx.logger.info("step executed")
        raise ValueError("permanent failure")

    try:
        await ctx.step(fail, retry=NO_RETRY)
    except StepError as error:
        caught = error.message
    await ctx.wait(1)
    return caught


@durable_execution(logging=LOGS)
async def req_1_11(event: None, ctx: DurableContext) -> str:
    def unreliable_func() -> str:
        if attempt() == 1:
            raise RuntimeError("first attempt fails")
        return "Operation succeeded"

    retry = RetryStrategy(max_attempts=3, initial_delay=1, jitter=Jitter.NONE)
    return await ctx.step(unreliable_func, retry=retry)


@durable_execution(logging=LOGS)
async def req_1_12(event: None, ctx: DurableContext) -> str:
    def always_fail() -> str:
        raise RuntimeError(f"attempt {attempt()} failed")

    retry = RetryStrategy(max_attempts=4, initial_delay=1, backoff_rate=1, jitter=Jitter.NONE)
    return await ctx.step(always_fail, retry=retry)


@durable_execution(logging=LOGS)
async def req_1_13(event: None, ctx: DurableContext) -> str:
    def unreliable_func() -> str:
        if attempt() < 3:
            raise RuntimeError(f"attempt {attempt()} failed")
        return "succeeded on third attempt"

    return await ctx.step(unreliable_func)


@durable_execution(logging=LOGS)
async def req_1_14(event: None, ctx: DurableContext) -> str:
    def unreliable_func() -> str:
        if attempt() < 3:
            raise RuntimeError(f"attempt {attempt()} failed")
        return "succeeded on third attempt"

    retry = RetryStrategy(max_attempts=5, initial_delay=2, backoff_rate=3, jitter=Jitter.NONE)
    return await ctx.step(unreliable_func, retry=retry)


@durable_execution(logging=LOGS)
async def req_1_15(event: None, ctx: DurableContext) -> str:
    def flaky() -> str:
        if attempt() == 1:
            raise TransientError("temporarily unavailable")
        return "recovered"

    retry_on_transient = RetryStrategy(
        max_attempts=3, initial_delay=1, jitter=Jitter.NONE, retryable_errors=(TransientError,)
    )
    return await ctx.step(flaky, retry=retry_on_transient)


@durable_execution(logging=LOGS)
async def req_1_16(event: None, ctx: DurableContext) -> str:
    def flaky() -> str:
        raise TransientError("temporarily unavailable")

    def no_retry_on_transient_error(error: BaseException, attempts_made: int) -> RetryDecision:
        if isinstance(error, TransientError):
            return RetryDecision(should_retry=False)
        return RetryDecision(should_retry=True, delay_seconds=1)

    return await ctx.step(flaky, retry=no_retry_on_transient_error)


@durable_execution(logging=LOGS)
async def req_1_17(event: str, ctx: DurableContext) -> str:
    def at_most_once_flaky_step() -> str:
        StepContext.current().logger.info(f"processing {event}")
        crash_once(ctx.execution_arn)
        return "unreachable: the interrupted attempt is not retried"

    return await ctx.step(
        at_most_once_flaky_step,
        semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        retry=NO_RETRY,
    )


@durable_execution(logging=LOGS)
async def req_1_18(event: str, ctx: DurableContext) -> str:
    def flaky() -> str:
        StepContext.current().logger.info(f"processing {event}")
        crash_once(ctx.execution_arn)
        return "succeeded on second attempt"

    retry = RetryStrategy(max_attempts=2, initial_delay=1, jitter=Jitter.NONE)
    return await ctx.step(flaky, semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry=retry)


@durable_execution(logging=LOGS)
async def req_1_19(event: None, ctx: DurableContext) -> str:
    def failing_func() -> str:
        raise RuntimeError("always fails")

    return await ctx.step(failing_func, retry=NO_RETRY)


@durable_execution(logging=LOGS)
async def req_1_20(event: None, ctx: DurableContext) -> str:
    def failing_func() -> str:
        raise RuntimeError("always fails")

    try:
        return await ctx.step(failing_func, retry=NO_RETRY)
    except StepError:
        return await ctx.step(lambda: "fallback_result")
