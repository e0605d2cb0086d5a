"""Crash injection: interrupt representative workflows at every checkpoint boundary.

For each boundary the transport fails either before the service applied the batch or
after (the response is lost); Lambda then invokes the function again. Every run must end
with the uninterrupted run's status and result, no acknowledged checkpoint may be lost,
an at-most-once attempt runs at most once, and a body whose success was acknowledged
never runs again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from aiodurable import (
    DurableContext,
    RetryStrategy,
    StepContext,
    StepSemantics,
    durable_execution,
)
from aiodurable.errors import CheckpointError
from aiodurable.wire import OperationStatus, OperationType

from ..service_harness import ServiceHarness


@dataclass
class Ledger:
    """What the step bodies observed while they ran."""

    service: ServiceHarness | None = None
    arn: str = ""
    runs: Counter[tuple[str, int]] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def enter(self, label: str) -> int:
        step = StepContext.current()
        self.runs[(label, step.attempt)] += 1
        assert self.service is not None
        op = self.service.executions[self.arn].operations.get(step.operation_id)
        if op is not None and op.status is OperationStatus.SUCCEEDED:
            self.violations.append(f"{label} ran again after its success was acknowledged")
        return step.attempt


LEDGER = Ledger()


async def charge(amount: int) -> int:
    attempt = LEDGER.enter("charge")
    if attempt == 1:
        raise ConnectionError("card network timeout")
    return amount


async def reserve(sku: str) -> str:
    LEDGER.enter(f"reserve-{sku}")
    return f"held:{sku}"


async def ship(item: int) -> int:
    LEDGER.enter(f"ship-{item}")
    return item * 10


async def pack(ctx: DurableContext) -> str:
    first = await ctx.step(reserve, "box", name="box")
    await ctx.wait(30, name="cool-down")
    return first + "+packed"


async def fan_out(ctx: DurableContext, item: int, index: int) -> int:
    return await ctx.step(ship, item, name="ship")


@durable_execution
async def order(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    held = await ctx.step(
        reserve, "sku-1", name="reserve", semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
    )
    paid = await ctx.step(
        charge, 42, name="charge", retry=RetryStrategy(max_attempts=3, initial_delay=1)
    )
    await ctx.wait(3600, name="warehouse")
    approval = await ctx.create_callback(name="approve", timeout=600)
    decision = await approval.result()
    packed = await ctx.run_in_child_context(pack, name="pack")
    shipped = await ctx.map(list(range(100)), fan_out, name="ship-all", max_concurrency=10)
    return {
        "held": held,
        "paid": paid,
        "decision": decision,
        "packed": packed,
        "shipped": sum(r or 0 for r in shipped.get_results()),
    }


async def run_to_end(service: ServiceHarness, arn: str) -> tuple[dict[str, Any], int]:
    """Invoke like Lambda does: again after an error, again after PENDING (timers fire,
    callbacks are answered)."""
    crashes = 0
    for _ in range(200):
        try:
            output = await order.run(service.event(arn), client=service)
        except CheckpointError:
            crashes += 1
            continue
        if output["Status"] != "PENDING":
            return output, crashes
        for op in service.operations(arn):
            if op.type is OperationType.CALLBACK and op.status is OperationStatus.STARTED:
                assert op.callback_details is not None
                service.complete_callback(arn, op.callback_details.callback_id or "", '"ok"')
        service.advance(3600)
    raise AssertionError("the execution never finished")


def acknowledged(service: ServiceHarness, arn: str) -> dict[str, OperationStatus]:
    return {op.id: op.status for op in service.operations(arn)}


async def baseline() -> tuple[dict[str, Any], int]:
    LEDGER.__init__()  # type: ignore[misc]
    service = ServiceHarness()
    arn = service.start("{}")
    LEDGER.service, LEDGER.arn = service, arn
    output, _ = await run_to_end(service, arn)
    return output, len(service.calls)


@pytest.mark.parametrize("mode", ["before", "after"])
async def test_every_checkpoint_boundary_survives_a_crash(mode: str) -> None:
    expected, boundaries = await baseline()
    assert expected["Status"] == "SUCCEEDED"
    survived = 0
    for boundary in range(1, boundaries + 1):
        LEDGER.__init__()  # type: ignore[misc]
        service = ServiceHarness()
        arn = service.start("{}")
        LEDGER.service, LEDGER.arn = service, arn
        service.crash_at, service.crash_mode = boundary, mode
        output, crashes = await run_to_end(service, arn)
        assert crashes == 1, f"boundary {boundary}: the injected crash was not observed"
        assert output == expected, f"boundary {boundary} ({mode}): {output} != {expected}"
        assert LEDGER.violations == [], f"boundary {boundary} ({mode}): {LEDGER.violations}"
        at_most_once = {k: n for k, n in LEDGER.runs.items() if k[0] == "reserve-sku-1"}
        assert all(n <= 1 for n in at_most_once.values()), (
            f"boundary {boundary} ({mode}): an at-most-once attempt ran twice: {at_most_once}"
        )
        survived += 1
    assert survived == boundaries
    print(f"crash injection ({mode}): {survived}/{boundaries} boundaries survived")
