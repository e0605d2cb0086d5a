"""Runs a representative workflow on the SQLite-backed local backend, and can SIGKILL
itself at one checkpoint boundary.

Usage: python sigkill_worker.py STORE MARKER_DIR KILL_AT MODE
  KILL_AT  the 1-based checkpoint call to die at (0: never)
  MODE     "before": die before the backend sees that call;
           "after": die once the backend committed it, before the runtime hears back.
Prints ``CALLS n`` and ``RESULT status result`` when the execution ends.

Step bodies leave marker files: an at-most-once attempt creates ``<label>-<attempt>`` with
O_EXCL (running twice fails loudly); any body that starts although its success was
already recorded leaves ``violation-<label>``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from step_markers import enter_step  # this folder is first on sys.path

from aiodurable import (
    DurableContext,
    RetryStrategy,
    StepSemantics,
    durable_execution,
)
from aiodurable.local import LocalBackend, SqliteStore, VirtualClock
from aiodurable.wire import OperationStatus

STORE, MARKERS, KILL_AT, MODE = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
BACKEND: LocalBackend | None = None
ARN = ""


def enter(label: str, *, exclusive: bool) -> int:
    assert BACKEND is not None
    return enter_step(BACKEND, ARN, MARKERS, label, exclusive=exclusive)


async def reserve(sku: str) -> str:
    enter(f"reserve-{sku}", exclusive=True)
    return f"held:{sku}"


async def charge(amount: int) -> int:
    if enter("charge", exclusive=False) == 1:
        raise ConnectionError("card network timeout")
    return amount


async def ship(item: int) -> int:
    enter(f"ship-{item}", exclusive=False)
    return item * 10


async def pack(ctx: DurableContext) -> str:
    box = await ctx.step(reserve, "box", name="box", semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
    await ctx.wait(30, name="cool-down")
    return box + "+packed"


async def ship_one(ctx: DurableContext, item: int, index: int) -> int:
    return await ctx.step(ship, item, name="ship")


@durable_execution
async def order(event: Any, ctx: DurableContext) -> dict[str, Any]:
    held = await ctx.step(
        reserve, "sku", name="reserve", semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
    )
    paid = await ctx.step(
        charge, 42, name="charge", retry=RetryStrategy(max_attempts=3, initial_delay=1)
    )
    await ctx.wait(3600, name="warehouse")
    approval = await ctx.create_callback(name="approve", timeout=600)
    decision = await approval.result()
    packed = await ctx.run_in_child_context(pack, name="pack")
    shipped = await ctx.map(list(range(100)), ship_one, name="ship-all", max_concurrency=25)
    return {
        "held": held,
        "paid": paid,
        "decision": decision,
        "packed": packed,
        "shipped": sum(r or 0 for r in shipped.get_results()),
    }


async def main() -> None:
    global BACKEND, ARN
    calls = 0
    original = LocalBackend.checkpoint

    async def checkpoint(self: LocalBackend, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == KILL_AT and MODE == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        response = await original(self, *args, **kwargs)
        if calls == KILL_AT and MODE == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return response

    LocalBackend.checkpoint = checkpoint  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    async with LocalBackend(
        store=SqliteStore(STORE),
        clock=VirtualClock(),
        functions={"order": order},
        invocation_retry_delay=0,
    ) as backend:
        BACKEND = backend
        backend.on_callback_started(
            lambda arn, op: loop.call_soon(
                backend.send_callback_success,
                op.callback_details.callback_id if op.callback_details else "",
                '"approved"',
            )
        )
        # The approver of a callback created before a crash still answers it.
        for execution in backend.executions():
            for op in backend.operations(execution.arn):
                if op.callback_details and op.status is OperationStatus.STARTED:
                    backend.send_callback_success(
                        op.callback_details.callback_id or "", '"approved"'
                    )
        info = backend.start_execution("order", "{}", name="order-1")
        ARN = info.arn
        info = await backend.wait_for_completion(info.arn)
        print("CALLS", calls, flush=True)
        print("RESULT", info.status.value, info.result, flush=True)
        if info.error is not None:
            print("ERROR", info.error, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
