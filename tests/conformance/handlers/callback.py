"""Suite 4: callbacks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiodurable import CallbackError, DurableContext, SerdesContext, durable_execution
from aiodurable.serdes import decode_json, encode_json

from ..execution_logs import LOGS


@durable_execution(logging=LOGS)
async def req_4_1(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event)
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_2(event: None, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name="approval")
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_3(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event, timeout=timedelta(seconds=5))
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_4(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event, heartbeat_timeout=timedelta(seconds=5))
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_5(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event, heartbeat_timeout=timedelta(seconds=10))
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_6(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event)
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_7(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event)
    await ctx.step(lambda: "notified the approver")
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_8(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event, timeout=timedelta(seconds=5))
    await ctx.step(lambda: "notified the approver")
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_9(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event)
    await ctx.wait(5)
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_10(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event)
    await ctx.wait(5)
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_11(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event, timeout=timedelta(seconds=3))
    await ctx.wait(6)
    return await callback.result()


@durable_execution(logging=LOGS)
async def req_4_12(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event)
    result = await callback.result()
    await ctx.wait(2)
    return result


@durable_execution(logging=LOGS)
async def req_4_13(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event)
    try:
        message = await callback.result()
    except CallbackError as error:
        message = f"callback failed: {error.message}"
    await ctx.wait(2)
    return message


@durable_execution(logging=LOGS)
async def req_4_14(event: str, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name=event, timeout=timedelta(seconds=3))
    try:
        message = await callback.result()
    except CallbackError as error:
        message = f"callback failed: {error.message}"
    await ctx.wait(2)
    return message


class ReceivedSerdes:
    """Reads ``{id, message, timestamp}`` with an ISO-8601 timestamp as epoch seconds."""

    def serialize(self, value: dict[str, Any], context: SerdesContext) -> str | None:
        return encode_json(value)

    def deserialize(self, text: str, context: SerdesContext) -> dict[str, Any]:
        raw = decode_json(text, dict[str, Any])
        stamp = datetime.fromisoformat(raw["timestamp"].replace("Z", "+00:00"))
        return {"id": raw["id"], "message": raw["message"], "timestamp": int(stamp.timestamp())}


@durable_execution(logging=LOGS)
async def req_4_15(event: str, ctx: DurableContext) -> dict[str, Any]:
    callback = await ctx.create_callback(name=event, serdes=ReceivedSerdes())
    return {"received": await callback.result()}


class NumberSerdes:
    """Reads the callback payload as a number."""

    def serialize(self, value: int, context: SerdesContext) -> str | None:
        return str(value)

    def deserialize(self, text: str, context: SerdesContext) -> int:
        return int(decode_json(text, int))


@durable_execution(logging=LOGS)
async def req_4_16(event: str, ctx: DurableContext) -> dict[str, int]:
    callback = await ctx.create_callback(name=event, serdes=NumberSerdes())
    count = await callback.result()
    return {"count": count, "doubled": count * 2}


@durable_execution(logging=LOGS)
async def req_4_17(event: list[str], ctx: DurableContext) -> list[str]:
    first = await ctx.create_callback(name=event[0])
    a = await first.result()
    second = await ctx.create_callback(name=event[1])
    return [a, await second.result()]


@durable_execution(logging=LOGS)
async def req_4_18(event: list[str], ctx: DurableContext) -> list[str]:
    first = await ctx.create_callback(name=event[0])
    second = await ctx.create_callback(name=event[1])
    a = await first.result()
    return [a, await second.result()]


@durable_execution(logging=LOGS)
async def req_4_19(event: list[str], ctx: DurableContext) -> list[str]:
    first = await ctx.create_callback(name=event[0])
    second = await ctx.create_callback(name=event[1])
    b = await second.result()
    return [await first.result(), b]
