"""Workflows the CLI tests run by name (``tests.cli.flows:…``)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from aiodurable import DurableContext, RetryStrategy, StepContext, durable_execution

#: Set in the environment to make :func:`blocking`'s step block (the Ctrl-C test).
BLOCK = "AIODURABLE_TEST_BLOCK"


async def score(item: int) -> int:
    if item % 25 == 3 and StepContext.current().attempt == 1:
        raise ConnectionError(f"scoring service busy (item {item})")
    return item * 2


async def send(channel: str) -> str:
    return f"sent by {channel}"


@durable_execution
async def batch(event: dict[str, Any], ctx: DurableContext) -> dict[str, int]:
    """A map over ``items`` items: every 50th waits, every 25th is retried once."""
    pause = timedelta(seconds=event.get("wait_seconds", 2))
    retry = RetryStrategy.fixed(event.get("retry_seconds", 1), max_attempts=3)

    async def one(child: DurableContext, item: int, index: int) -> int:
        if item % 50 == 0:
            await child.wait(pause, name="cool-down")
        return await child.step(score, item, name="score", retry=retry)

    results = await ctx.map(list(range(event.get("items", 200))), one, name="score-items")
    await ctx.parallel(
        [
            lambda child: child.step(send, "email", name="email"),
            lambda child: child.step(send, "sms", name="sms"),
        ],
        name="notify",
    )
    scores = [value for value in results.get_results() if value is not None]
    return {"scored": len(scores), "sum": sum(scores)}


@durable_execution
async def unanswered(event: dict[str, Any], ctx: DurableContext) -> str:
    """A callback with no timeout: only an answer from outside ends it."""
    callback = await ctx.create_callback(name="sign-off", result_type=str)
    return f"signed off by {await callback.result()}"


@durable_execution
async def review(event: dict[str, Any], ctx: DurableContext) -> str:
    """Six hours of waiting, then a callback that times out after a day."""
    await ctx.wait(timedelta(hours=6), name="queue")
    callback = await ctx.create_callback(name="review", timeout=timedelta(days=1), result_type=str)
    return f"reviewed: {await callback.result()}"


def slow_report(name: str) -> str:
    if os.environ.get(BLOCK):
        time.sleep(3600)  # a sync step stuck in a call that never returns
    return f"report for {name}"


@durable_execution
async def blocking(event: dict[str, Any], ctx: DurableContext) -> str:
    """A sync step that blocks its worker thread while ``AIODURABLE_TEST_BLOCK`` is set."""
    await ctx.step(send, "email", name="prepare")
    return await ctx.step(slow_report, event["name"], name="report")


async def not_durable(event: dict[str, Any], ctx: DurableContext) -> str:
    """A plain async function: the decorator is missing."""
    return "never runs"


def notify_manager(callback_id: str) -> None:
    """A submitter that would e-mail the callback id."""


@durable_execution
async def manager_approval(event: dict[str, Any], ctx: DurableContext) -> str:
    """A wait_for_callback named "manager" with no timeout."""
    answer: str = await ctx.wait_for_callback(notify_manager, name="manager", result_type=str)
    return answer


class SHIP_RETRY:
    """A class, named where a handler was meant."""


ship_retry = SHIP_RETRY()
