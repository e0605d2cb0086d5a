from datetime import timedelta

from aiodurable import DurableContext, durable_execution

from .service_harness import ServiceHarness, drive


async def reserve(items: list[str]) -> str:
    return "held:" + ",".join(items)


@durable_execution
async def order(event: dict[str, list[str]], ctx: DurableContext) -> str:
    reservation = await ctx.step(reserve, event["items"], name="reserve")
    await ctx.wait(timedelta(hours=2), name="warehouse")
    return await ctx.step(lambda: reservation + ":shipped", name="ship")


async def test_order_runs_to_completion() -> None:
    service = ServiceHarness()
    arn = service.start('{"items": ["a", "b"]}')
    outputs = await drive(order, service, arn)
    assert [o["Status"] for o in outputs] == ["PENDING", "SUCCEEDED"]
    assert outputs[-1]["Result"] == '"held:a,b:shipped"'
