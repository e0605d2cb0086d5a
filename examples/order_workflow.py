"""An order workflow on the embedded local backend, in virtual time.

    python examples/order_workflow.py [--store PATH]

Steps (one of them fails once and is retried), a 6-hour wait for the warehouse and a
manager's approval through a callback — all of it in well under a second, because the
clock is virtual. Executions are kept in SQLite under ``.aiodurable/``; run it again and
the finished execution is found there by name, not run again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta
from pathlib import Path

import msgspec

from aiodurable import DurableContext, RetryStrategy, StepContext, durable_execution
from aiodurable.cli.remote_commands import format_event
from aiodurable.local import LocalBackend, SqliteStore, VirtualClock
from aiodurable.local.encoding import to_api_json
from aiodurable.wire import Operation

STORE = Path(".aiodurable") / "demo.db"


class Order(msgspec.Struct):
    order_id: str
    items: list[str]
    customer: str


class Receipt(msgspec.Struct):
    order_id: str
    total_cents: int
    charge_id: str
    approved_by: str


async def price(order: Order) -> int:
    return 1250 * len(order.items)


async def charge(order: Order, amount: int) -> str:
    # The payment gateway is flaky: the first attempt fails, the retry succeeds.
    if StepContext.current().attempt == 1:
        raise ConnectionError("payment gateway timed out")
    return f"ch_{order.order_id}_{amount}"


@durable_execution
async def order_workflow(order: Order, ctx: DurableContext) -> Receipt:
    amount = await ctx.step(price, order, name="price")
    charge_id = await ctx.step(
        charge, order, amount, name="charge", retry=RetryStrategy.fixed(30, max_attempts=3)
    )
    await ctx.wait(timedelta(hours=6), name="wait-for-warehouse")
    approval = await ctx.create_callback(
        name="manager-approval", timeout=timedelta(days=2), result_type=str
    )
    approver = await approval.result()
    await ctx.step(lambda: f"shipped {order.order_id}", name="ship")
    return Receipt(order.order_id, amount, charge_id, str(approver))


async def main(store: Path) -> None:
    clock = VirtualClock()
    async with LocalBackend(
        store=SqliteStore(store), clock=clock, functions={"orders": order_workflow}
    ) as backend:

        def approve(arn: str, op: Operation) -> None:
            # A manager answers the approval request as soon as it is sent.
            assert op.callback_details is not None
            assert op.callback_details.callback_id is not None
            print(f"callback {op.name} started; the manager approves it")
            backend.send_callback_success(
                op.callback_details.callback_id, json.dumps("dana@example.com")
            )

        backend.on_callback_started(approve)
        order = Order("o-1001", ["book", "lamp"], "ada@example.com")
        started = clock.now()
        info = backend.start_execution(
            "orders", msgspec.json.encode(order).decode(), name="order-o-1001"
        )
        if info.done:
            print(f"order-o-1001 already finished; it is in {store} (delete it to run again)")
        info = await backend.wait_for_completion(info.arn)

        print(f"\nexecution {info.arn}")
        print(f"status {info.status.value}, virtual time elapsed {clock.now() - started}")
        if info.result is not None:
            print("result", msgspec.json.decode(info.result, type=Receipt))
        print("\nhistory:")
        for event in to_api_json(backend.history(info.arn)):
            print(format_event(event))
        print(f"\nstored in {store}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The demo order workflow, in virtual time.")
    parser.add_argument("--store", type=Path, default=STORE, help=f"SQLite file (default {STORE})")
    asyncio.run(main(parser.parse_args().store))
