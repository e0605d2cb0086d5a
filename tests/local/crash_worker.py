"""Runs one order workflow on a SQLite store; ``hang`` in the marker dir makes step b hang.

Usage: python crash_worker.py STORE MARKER_DIR
Each step attempt creates ``<step>-<attempt>`` with O_EXCL, so an attempt that ran twice
fails loudly.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from aiodurable import DurableContext, RetryStrategy, StepContext, StepSemantics, durable_execution
from aiodurable.local import LocalBackend, SqliteStore, VirtualClock

MARKERS = sys.argv[2]


def mark(step: str, number: int) -> bool:
    """Record the attempt; whether it should hang."""
    os.close(os.open(os.path.join(MARKERS, f"{step}-{number}"), os.O_CREAT | os.O_EXCL, 0o600))
    return step == "b" and os.path.exists(os.path.join(MARKERS, "hang"))


async def attempt(step: str) -> str:
    if mark(step, StepContext.current().attempt):
        print("HANGING", flush=True)
        await asyncio.Event().wait()
    return step


@durable_execution
async def order(event: Any, ctx: DurableContext) -> str:
    once = StepSemantics.AT_MOST_ONCE_PER_RETRY
    retry = RetryStrategy.fixed(1, max_attempts=3)
    a = await ctx.step(attempt, "a", name="a", semantics=once, retry=retry)
    await ctx.wait(3600, name="nap")
    b = await ctx.step(attempt, "b", name="b", semantics=once, retry=retry)
    return a + b


async def main() -> None:
    store = SqliteStore(sys.argv[1])
    async with LocalBackend(
        store=store, clock=VirtualClock(), functions={"order": order}
    ) as backend:
        info = backend.start_execution("order", "{}", name="order-1")
        info = await backend.wait_for_completion(info.arn)
        print("RESULT", info.status.value, info.result, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
