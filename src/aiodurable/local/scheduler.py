"""The scheduler: fires due timers, launches wanted invocations, moves virtual time.

One loop, woken by :meth:`~aiodurable.local.changes.Changes.kick` or by the next
deadline. Each round it fires the timers that are due, launches an invocation for every
running execution that wants one (one at a time per execution), then sleeps. With a
virtual clock that may skip, an idle backend jumps straight to the next timer — but not
to or past a callback's deadline while the clock holds for callbacks (someone outside
can still answer them); when nothing runs and no timer may be skipped to, the backend
is *stalled* — only something from outside (a callback, ``advance``) can make progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from aiodurable.local.changes import Changes
from aiodurable.local.clock import Clock
from aiodurable.local.execution import Execution
from aiodurable.local.lifecycle import Lifecycle
from aiodurable.local.pausing import may_invoke
from aiodurable.local.registry import Registry
from aiodurable.local.timers import fire_timers, next_timer
from aiodurable.local.workers import Workers

__all__ = ["Scheduler", "stall_message"]


class Scheduler:
    """The backend's loop over its executions."""

    def __init__(
        self,
        registry: Registry,
        lifecycle: Lifecycle,
        workers: Workers,
        clock: Clock,
        changes: Changes,
        launch: Callable[[Execution, datetime], None],
    ) -> None:
        self._registry = registry
        self._lifecycle = lifecycle
        self._workers = workers
        self._clock = clock
        self._changes = changes
        self._launch = launch
        #: Conditions under which idle virtual time must not skip (a test saw what it
        #: waited for, e.g. a callback that started): the backend stalls instead.
        self.skip_holds: list[Callable[[], bool]] = []

    async def run(self) -> None:
        """Schedule until cancelled."""
        changes = self._changes
        while True:
            changes.wake.clear()
            now = self._clock.now()
            self._round(now)
            busy = self._workers.busy
            if self._clock.virtual:
                next_due = self._next_due(now, include_timeout=False)
                if next_due is not None and self._clock.holds_for_callbacks:
                    held = self._next_callback_deadline()
                    if held is not None and held <= next_due:
                        next_due = None
                if (
                    not busy
                    and self._clock.may_skip
                    and next_due is not None
                    and not any(hold() for hold in self.skip_holds)
                ):
                    self._clock.advance_to(next_due)
                    continue
                changes.stalled = not busy
                changes.notify()
                await changes.wake.wait()
                continue
            changes.stalled = False
            changes.notify()
            deadline = self._next_due(now, include_timeout=True)
            if deadline is None:
                await changes.wake.wait()
                continue
            try:
                async with asyncio.timeout((deadline - now).total_seconds()):
                    await changes.wake.wait()
            except TimeoutError:
                pass

    def fire_due(self, now: datetime) -> None:
        """Apply every timer due at ``now``, in every running execution."""
        for ex in list(self._registry.executions.values()):
            if ex.running:
                fire_timers(ex, now)
                self._lifecycle.settle(ex)

    def _round(self, now: datetime) -> None:
        self.fire_due(now)
        executions = list(self._registry.executions.values())
        functions = self._registry.functions
        invoking = self._workers.invocations
        for ex in executions:
            record = ex.record
            if (
                ex.running
                and record.wants_invocation
                and ex.arn not in invoking
                and (record.invoke_not_before is None or record.invoke_not_before <= now)
                and record.function_name in functions
                and may_invoke(ex)
            ):
                self._launch(ex, now)

    def _next_due(self, now: datetime, *, include_timeout: bool) -> datetime | None:
        upcoming = [
            t
            for ex in self._registry.executions.values()
            if (t := next_timer(ex, include_timeout=include_timeout)) is not None and t > now
        ]
        return min(upcoming, default=None)

    def _next_callback_deadline(self) -> datetime | None:
        deadlines = [
            t
            for ex in self._registry.executions.values()
            if ex.running
            for timer in ex.record.callbacks.values()
            for t in (timer.timeout_at, timer.heartbeat_at)
            if t is not None
        ]
        return min(deadlines, default=None)


def stall_message(ex: Execution) -> str:
    """Why ``ex`` cannot progress, and what would make it."""
    if ex.record.pause is not None:
        return (
            f"execution {ex.arn} is paused: nothing invokes it until it is resumed "
            "(backend.resume_execution / runner.resume, or `aiodurable resume ARN` against "
            "a served backend)"
        )
    what = ", ".join(
        f"{op.type.value.lower()} {op.name or op.id}"
        + (
            f" (callback id {op.callback_details.callback_id})"
            if op.callback_details and op.callback_details.callback_id
            else ""
        )
        for op in ex.waiting_on()
    )
    if not what:
        what = "nothing the backend can complete"
    return (
        f"execution {ex.arn} cannot progress: it waits for {what}. Complete its "
        "callbacks (send_callback_success / runner.complete_callback, or `aiodurable "
        "callback succeed CALLBACK_ID` against a served backend), register a callback "
        "responder, register the invoked function, or advance time explicitly."
    )
