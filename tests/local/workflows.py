"""Workflows the CLI and HTTP tests run by name (``tests.local.workflows:…``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiodurable import DurableContext, RetryStrategy, StepContext, durable_execution


def price(items: list[str]) -> int:
    if StepContext.current().attempt == 1:
        raise ConnectionError("pricing service warming up")
    return 10 * len(items)


@durable_execution
async def order(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    total = await ctx.step(price, event["items"], name="price", retry=RetryStrategy.fixed(2))
    await ctx.wait(timedelta(hours=6), name="warehouse")
    return {"order_id": event["order_id"], "total": total}


@durable_execution
async def approval(event: dict[str, Any], ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name="approve", timeout=timedelta(days=1))
    decision = await callback.result()
    return f"{event['order_id']}: {decision}"
