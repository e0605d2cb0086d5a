"""Durable functions run by ``python -m awslambdaric process_handlers.NAME``.

``MARKERS`` (environment) is a directory: :func:`first` creates a marker file there and
says whether it was the first to, so a handler misbehaves on its first attempt only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from aiodurable import DurableContext, durable_execution


def first(marker: str) -> bool:
    """Whether this is the first call for ``marker`` (across processes)."""
    try:
        os.close(os.open(Path(os.environ["MARKERS"], marker), os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True


def crash_once() -> str:
    if first("crash"):
        os._exit(3)  # the process dies mid-step, as a segfault or os._exit would
    return "survived"


def hang_once() -> str:
    if first("hang"):
        time.sleep(60)  # past the function timeout
    return "in time"


def hog_once() -> str:
    if first("hog"):
        hoard = bytearray(512 * 1024 * 1024)  # resident: bytearray writes every page
        time.sleep(60)
        return str(len(hoard))
    return "fed"


def block_until_released() -> int:
    print("RUNNING", os.getpid(), flush=True)  # to serve's output: functions log there
    while not Path(os.environ["MARKERS"], "release").exists():
        time.sleep(0.05)
    return os.getpid()


@durable_execution
async def crashing(event: Any, ctx: DurableContext) -> str:
    before = await ctx.step(lambda: "before", name="before")
    after = await ctx.step(crash_once, name="risky")
    return f"{before} {after}"


@durable_execution
async def slow(event: Any, ctx: DurableContext) -> str:
    result: str = await ctx.step(hang_once, name="slow")
    return result


@durable_execution
async def hungry(event: Any, ctx: DurableContext) -> str:
    result: str = await ctx.step(hog_once, name="hog")
    return result


@durable_execution
async def blocking(event: Any, ctx: DurableContext) -> int:
    pid: int = await ctx.step(block_until_released, name="block")
    return pid


@durable_execution
async def echo(event: Any, ctx: DurableContext) -> dict[str, Any]:
    pid = await ctx.step(os.getpid, name="pid")
    return {"echo": event, "pid": pid}
