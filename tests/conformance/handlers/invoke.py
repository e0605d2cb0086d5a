"""Suite 5: chained invokes."""

from __future__ import annotations

from typing import Any

from aiodurable import DurableContext, InvokeError, SerdesContext, durable_execution
from aiodurable.serdes import decode_json, encode_json

from ..execution_logs import LOGS
from .targets import ECHO, FAILING, MEASURE

LARGE_PAYLOAD_CHARS = 900 * 1024  # near the 1 MiB chained-invoke payload limit


@durable_execution(logging=LOGS)
async def req_5_1(event: str, ctx: DurableContext) -> Any:
    return await ctx.invoke(ECHO, event)


@durable_execution(logging=LOGS)
async def req_5_2(event: dict[str, str], ctx: DurableContext) -> Any:
    return await ctx.invoke(ECHO, event["payload"], name=event["name"])


@durable_execution(logging=LOGS)
async def req_5_3(event: dict[str, Any], ctx: DurableContext) -> Any:
    return await ctx.invoke(ECHO, event)


@durable_execution(logging=LOGS)
async def req_5_4(event: None, ctx: DurableContext) -> Any:
    return await ctx.invoke(ECHO, None)


@durable_execution(logging=LOGS)
async def req_5_5(event: None, ctx: DurableContext) -> Any:
    return await ctx.invoke(FAILING, None)


@durable_execution(logging=LOGS)
async def req_5_6(event: None, ctx: DurableContext) -> Any:
    try:
        return await ctx.invoke(FAILING, None)
    except InvokeError:
        return "fallback"


@durable_execution(logging=LOGS)
async def req_5_7(event: None, ctx: DurableContext) -> Any:
    return await ctx.invoke(MEASURE, {"data": "x" * LARGE_PAYLOAD_CHARS})


@durable_execution(logging=LOGS)
async def req_5_8(event: dict[str, str], ctx: DurableContext) -> Any:
    return await ctx.invoke(ECHO, event["payload"], tenant_id=event["tenantId"])


@durable_execution(logging=LOGS)
async def req_5_9(event: None, ctx: DurableContext) -> Any:
    result = await ctx.invoke(ECHO, {"value": "cached"})
    await ctx.wait(1)
    return result


@durable_execution(logging=LOGS)
async def req_5_10(event: None, ctx: DurableContext) -> str:
    try:
        outcome = await ctx.invoke(FAILING, None)
    except InvokeError as error:
        outcome = f"caught: {error.message}"
    await ctx.wait(1)
    return str(outcome)


@durable_execution(logging=LOGS)
async def req_5_11(event: None, ctx: DurableContext) -> Any:
    value = await ctx.step(lambda: {"computed": 42}, name="compute")
    return await ctx.invoke(ECHO, value)


@durable_execution(logging=LOGS)
async def req_5_12(event: None, ctx: DurableContext) -> Any:
    echoed = await ctx.invoke(ECHO, {"value": 21})

    def double(result: dict[str, int]) -> int:
        return result["value"] * 2

    return await ctx.step(double, echoed)


@durable_execution(logging=LOGS)
async def req_5_13(event: None, ctx: DurableContext) -> Any:
    async def body(child: DurableContext) -> Any:
        return await child.invoke(ECHO, {"from": "child"})

    return await ctx.run_in_child_context(body, name="invoking_child")


@durable_execution(logging=LOGS)
async def req_5_14(event: None, ctx: DurableContext) -> list[Any]:
    first = await ctx.invoke(ECHO, "first")
    second = await ctx.invoke(MEASURE, {"data": "second"})
    return [first, second]


class UppercasePayload:
    """Sends the payload's strings upper-cased."""

    def serialize(self, value: dict[str, str], context: SerdesContext) -> str | None:
        return encode_json({key: text.upper() for key, text in value.items()})

    def deserialize(self, text: str, context: SerdesContext) -> dict[str, str]:
        return dict(decode_json(text, dict[str, str]))


@durable_execution(logging=LOGS)
async def req_5_15(event: dict[str, str], ctx: DurableContext) -> Any:
    return await ctx.invoke(ECHO, event, payload_serdes=UppercasePayload())


class UppercaseResultText:
    """Reads the target's result text upper-cased, without decoding it."""

    def serialize(self, value: str, context: SerdesContext) -> str | None:
        return value

    def deserialize(self, text: str, context: SerdesContext) -> str:
        return text.upper()


@durable_execution(logging=LOGS)
async def req_5_16(event: str, ctx: DurableContext) -> Any:
    return await ctx.invoke(ECHO, event, result_serdes=UppercaseResultText())
