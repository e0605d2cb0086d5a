"""Suite 6: wait_for_condition (polling)."""

from __future__ import annotations

from typing import Any

from aiodurable import (
    DurableContext,
    Jitter,
    SerdesContext,
    WaitForConditionError,
    WaitStrategy,
    durable_execution,
)

from ..execution_logs import LOGS


def increment(state: int) -> int:
    return state + 1


def poll_every(seconds: int, until: Any, *, max_attempts: int = 60) -> WaitStrategy[Any]:
    """Poll at a fixed interval while ``until(state)`` is false."""
    return WaitStrategy(
        should_continue=lambda state: not until(state),
        max_attempts=max_attempts,
        initial_delay=seconds,
        backoff_rate=1,
        jitter=Jitter.NONE,
    )


@durable_execution(logging=LOGS)
async def req_6_1(event: int, ctx: DurableContext) -> int:
    return await ctx.wait_for_condition(
        increment, initial_state=0, wait_strategy=poll_every(1, lambda s: s >= event)
    )


@durable_execution(logging=LOGS)
async def req_6_2(event: int, ctx: DurableContext) -> int:
    return await ctx.wait_for_condition(
        lambda state: state, initial_state=5, wait_strategy=poll_every(1, lambda s: s >= event)
    )


@durable_execution(logging=LOGS)
async def req_6_3(event: int, ctx: DurableContext) -> int:
    return await ctx.wait_for_condition(
        increment,
        initial_state=0,
        wait_strategy=poll_every(1, lambda s: s >= event),
        name="poll-status",
    )


@durable_execution(logging=LOGS)
async def req_6_4(event: int, ctx: DurableContext) -> int:
    return await ctx.wait_for_condition(
        increment, initial_state=5, wait_strategy=poll_every(1, lambda s: s >= event)
    )


@durable_execution(logging=LOGS)
async def req_6_5(event: int, ctx: DurableContext) -> int:
    return await ctx.wait_for_condition(
        increment, initial_state=0, wait_strategy=poll_every(2, lambda s: s >= event)
    )


@durable_execution(logging=LOGS)
async def req_6_6(event: int, ctx: DurableContext) -> int:
    return await ctx.wait_for_condition(
        increment,
        initial_state=event,
        wait_strategy=poll_every(1, lambda s: False, max_attempts=3),
    )


def broken_check(state: int) -> int:
    raise RuntimeError("the status endpoint is down")


@durable_execution(logging=LOGS)
async def req_6_7(event: None, ctx: DurableContext) -> int:
    return await ctx.wait_for_condition(
        broken_check, initial_state=0, wait_strategy=poll_every(1, lambda s: True)
    )


@durable_execution(logging=LOGS)
async def req_6_8(event: None, ctx: DurableContext) -> Any:
    try:
        return await ctx.wait_for_condition(
            broken_check, initial_state=0, wait_strategy=poll_every(1, lambda s: True)
        )
    except WaitForConditionError:
        return "recovered"


def advance_job(state: dict[str, Any]) -> dict[str, Any]:
    attempts = state["attempts"] + 1
    return {"status": "DONE" if attempts >= 2 else "PENDING", "attempts": attempts}


@durable_execution(logging=LOGS)
async def req_6_9(event: None, ctx: DurableContext) -> dict[str, Any]:
    return await ctx.wait_for_condition(
        advance_job,
        initial_state={"status": "PENDING", "attempts": 0},
        wait_strategy=poll_every(1, lambda s: s["status"] == "DONE"),
    )


@durable_execution(logging=LOGS)
async def req_6_10(event: None, ctx: DurableContext) -> None:
    return await ctx.wait_for_condition(
        lambda state: None, initial_state=None, wait_strategy=poll_every(1, lambda s: True)
    )


class PrefixedText:
    """Stores the state as ``state:<text>``."""

    def serialize(self, value: str, context: SerdesContext) -> str | None:
        return f"state:{value}"

    def deserialize(self, text: str, context: SerdesContext) -> str:
        return text.removeprefix("state:")


@durable_execution(logging=LOGS)
async def req_6_11(event: None, ctx: DurableContext) -> str:
    return await ctx.wait_for_condition(
        lambda state: state + "x",
        initial_state="",
        wait_strategy=poll_every(1, lambda s: len(s) >= 2),
        serdes=PrefixedText(),
    )


@durable_execution(logging=LOGS)
async def req_6_12(event: int, ctx: DurableContext) -> int:
    reached = await ctx.wait_for_condition(
        increment, initial_state=0, wait_strategy=poll_every(1, lambda s: s >= event)
    )
    return await ctx.step(lambda: reached * 10)


@durable_execution(logging=LOGS)
async def req_6_13(event: None, ctx: DurableContext) -> int:
    first = await ctx.wait_for_condition(
        increment, initial_state=0, wait_strategy=poll_every(1, lambda s: s >= 2)
    )
    return await ctx.wait_for_condition(
        increment, initial_state=first, wait_strategy=poll_every(1, lambda s: s >= 4)
    )
