"""Workflows the UI tests serve: each operation kind the timeline draws, and a callback."""

from __future__ import annotations

import msgspec

from aiodurable import DurableContext, RetryStrategy, StepContext, durable_execution


class Order(msgspec.Struct):
    order_id: str
    items: list[str] = msgspec.field(default_factory=lambda: ["book", "pen", "lamp"])


class Receipt(msgspec.Struct):
    order_id: str
    reserved: list[str | None]
    approved_by: str


async def reserve(item: str) -> str:
    return f"reserved {item}"


async def charge(order_id: str) -> str:
    # The first attempt fails, so the timeline shows a retry.
    if StepContext.current().attempt == 1:
        raise ConnectionError("payment gateway timed out")
    return f"charged {order_id}"


async def notify(channel: str) -> str:
    return f"notified {channel}"


@durable_execution
async def approval(order: Order, ctx: DurableContext) -> Receipt:
    """Reserve every item (map), charge with a retry, notify (parallel), pause, and wait
    for a person to approve (callback)."""

    async def reserve_item(child: DurableContext, item: str, index: int) -> str:
        return await child.step(reserve, item, name=f"reserve-{item}")

    reserved = await ctx.map(order.items, reserve_item, name="reserve-items")
    await ctx.step(
        charge, order.order_id, name="charge", retry=RetryStrategy(max_attempts=3, initial_delay=1)
    )

    async def by_mail(child: DurableContext) -> str:
        return await child.step(notify, "mail", name="mail")

    async def by_chat(child: DurableContext) -> str:
        return await child.step(notify, "chat", name="chat")

    await ctx.parallel([by_mail, by_chat], name="notify")
    await ctx.wait(1, name="cool-off")

    async def submit(callback_id: str) -> None:
        StepContext.current().logger.info("approval requested", callback_id=callback_id)

    approver = await ctx.wait_for_callback(submit, name="approval", result_type=str)
    return Receipt(order.order_id, reserved.get_results(), approver)


@durable_execution
async def failing(order: Order, ctx: DurableContext) -> str:
    """Fails after one step, with a stack trace."""
    await ctx.step(reserve, order.items[0], name="reserve")

    async def explode() -> str:
        raise ValueError(f"order {order.order_id} has no shipping address")

    return await ctx.step(explode, name="ship", retry=RetryStrategy.no_retry())


@durable_execution
async def shipment(order: Order, ctx: DurableContext) -> str:
    """Waits for a carrier that must send a heartbeat every minute."""
    callback = await ctx.create_callback(name="carrier", heartbeat_timeout=60, result_type=str)
    return await callback.result()


@durable_execution
async def restock(order: Order, ctx: DurableContext) -> list[str | None]:
    """A map over as many items as the order names (the UI folds a large one)."""

    async def reserve_item(child: DurableContext, item: str, index: int) -> str:
        return await child.step(reserve, item, name=f"reserve-{item}")

    return (await ctx.map(order.items, reserve_item, name="reserve-items")).get_results()
