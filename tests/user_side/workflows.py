"""The workflow the boto3 tests serve (``tests.user_side.workflows:checkout``).

``HOLD_DIR`` (environment) names a directory: with ``{"hold": true}`` the first step
creates ``entered`` there and holds the invocation until the test creates ``release``,
so a test can act while an invocation is in progress in another process.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from aiodurable import DurableContext, durable_execution


async def hold() -> str:
    folder = Path(os.environ["HOLD_DIR"])
    (folder / "entered").touch()
    # Another process decides, through the file system: there is no event to await.
    while not (folder / "release").exists():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    return "held"


@durable_execution
async def checkout(event: dict[str, Any], ctx: DurableContext) -> str:
    held = await ctx.step(hold, name="hold") if event.get("hold") else "free"
    callback = await ctx.create_callback(name="approve", result_type=str)
    decision = await callback.result()
    return f"{event['order_id']} {held}: {decision}"
