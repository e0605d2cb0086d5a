"""Runs a saga with cleanups and a timed-out attempt on the SQLite-backed local backend,
and can SIGKILL itself in the middle of one action body or one timed-out attempt.

Usage: python scope_sigkill_worker.py STORE MARKER_DIR KILL_IN
  KILL_IN  "none", the label of a compensation or cleanup to die in ("undo-seat",
           "refund", "close-session", "release-lock"), "quote-mid" (die inside the
           attempt that is about to time out) or "quote-late" (die while that attempt's
           abandoned thread finishes, after the deadline, while a later step runs).
Prints ``RESULT status result`` and ``ACTIONS names`` when the execution ends.

Markers: an at-most-once attempt creates ``<label>-<attempt>`` with O_EXCL (running twice
fails loudly); a body that starts although its success was already recorded leaves
``violation-<label>``; ``killed-<label>`` makes the kill happen once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from typing import Any

from step_markers import enter_step  # this folder is first on sys.path

from aiodurable import (
    DurableContext,
    RetryStrategy,
    StepContext,
    StepError,
    StepSemantics,
    durable_execution,
)
from aiodurable.local import LocalBackend, SqliteStore, VirtualClock

STORE, MARKERS, KILL_IN = sys.argv[1], sys.argv[2], sys.argv[3]
BACKEND: LocalBackend | None = None
ARN = ""
#: Lets the first quote attempt's thread finish (it is abandoned at its deadline first).
RELEASE = threading.Event()
AT_MOST_ONCE = StepSemantics.AT_MOST_ONCE_PER_RETRY


def enter(label: str, *, exclusive: bool) -> int:
    assert BACKEND is not None
    return enter_step(BACKEND, ARN, MARKERS, label, exclusive=exclusive)


def die_once(label: str) -> None:
    if label != KILL_IN:
        return
    marker = os.path.join(MARKERS, f"killed-{label}")
    if os.path.exists(marker):
        return
    open(marker, "a").close()
    os.kill(os.getpid(), signal.SIGKILL)


async def reserve(item: str) -> str:
    enter("reserve", exclusive=True)
    return f"held:{item}"


async def charge(amount: int) -> int:
    enter("charge", exclusive=False)
    return amount


def quote() -> str:
    """Sync, in a worker thread: attempt 1 outlives its 0.2 s timeout."""
    attempt = enter(f"quote-{StepContext.current().attempt}", exclusive=False)
    if attempt == 1:
        die_once("quote-mid")
        RELEASE.wait(60)
        die_once("quote-late")  # the attempt timed out long ago; its thread ends now
    return f"quote-{attempt}"


def ship(order: str) -> str:
    """Sync (a worker thread), so it may block while the released thread kills us."""
    enter("ship", exclusive=False)
    if KILL_IN == "quote-late" and not os.path.exists(os.path.join(MARKERS, "killed-quote-late")):
        RELEASE.set()
        threading.Event().wait(60)  # the released thread kills the process meanwhile
    raise LookupError(f"no courier for {order}")


def undo_seat(seat: str) -> str:
    enter("undo-seat", exclusive=True)
    die_once("undo-seat")
    return f"released {seat}"


async def refund(amount: int) -> str:
    enter("refund", exclusive=False)
    die_once("refund")
    return f"refunded {amount}"


async def cleanup(label: str) -> str:
    enter(label, exclusive=False)
    die_once(label)
    return f"{label} done"


@durable_execution
async def checkout(event: Any, ctx: DurableContext) -> dict[str, Any]:
    quoted = ""
    try:
        async with ctx.terminal_scope("outer") as outer:
            outer.finally_(cleanup, "release-lock", name="release-lock")
            async with ctx.saga("booking") as saga:
                saga.finally_(cleanup, "close-session", name="close-session")
                seat = await saga.step(reserve, "seat", name="reserve", semantics=AT_MOST_ONCE)
                saga.on_failure(undo_seat, seat, name="undo-seat", semantics=AT_MOST_ONCE)
                await saga.step(charge, 42, name="charge", compensate=refund)
                quoted = await saga.step(
                    quote, name="quote", timeout=0.2, retry=RetryStrategy(initial_delay=1)
                )
                if KILL_IN != "quote-late":
                    RELEASE.set()
                await ctx.wait(60, name="hold")
                await saga.step(ship, "o-1", name="ship", retry=RetryStrategy(max_attempts=1))
    except StepError as error:
        return {"outcome": "rolled-back", "error": error.message, "quote": quoted}
    return {"outcome": "shipped", "quote": quoted}


async def main() -> None:
    global BACKEND, ARN
    async with LocalBackend(
        store=SqliteStore(STORE),
        clock=VirtualClock(),
        functions={"checkout": checkout},
        invocation_retry_delay=0,
    ) as backend:
        BACKEND = backend
        info = backend.start_execution("checkout", "{}", name="checkout-1")
        ARN = info.arn
        info = await backend.wait_for_completion(info.arn)
        ops = backend.operations(info.arn)
        scopes = {op.id for op in ops if op.sub_type in ("TerminalScope", "Saga")}
        actions = sorted(
            f"{op.name}:{op.status.value}" for op in ops if op.parent_id in scopes and op.name
        )
        print("RESULT", info.status.value, info.result, flush=True)
        print("ACTIONS", " ".join(actions), flush=True)
    RELEASE.set()  # an attempt-1 thread still waiting (a restart re-ran it) may end


if __name__ == "__main__":
    asyncio.run(main())
