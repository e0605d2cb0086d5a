"""Suite 9: map."""

from __future__ import annotations

from typing import Any

from aiodurable import (
    BatchItem,
    BatchResult,
    CompletionConfig,
    DurableContext,
    Nesting,
    SerdesContext,
    durable_execution,
)

from ..execution_logs import LOGS
from .batch_projection import counts, summary


async def same(ctx: DurableContext, item: Any, index: int) -> Any:
    return item


async def upper(ctx: DurableContext, item: str, index: int) -> str:
    return item.upper()


async def fail_on_fail(ctx: DurableContext, item: str, index: int) -> str:
    if item == "fail":
        raise RuntimeError(f"item {index} failed")
    return item


@durable_execution(logging=LOGS)
async def req_9_1(event: list[str], ctx: DurableContext) -> list[Any]:
    async def greet(item_ctx: DurableContext, name: str, index: int) -> str:
        return await item_ctx.step(lambda: f"Hello, {name}!")

    result = await ctx.map(event, greet, name="map", max_concurrency=1)
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_9_2(event: list[int], ctx: DurableContext) -> list[Any]:
    async def double(item_ctx: DurableContext, item: int, index: int) -> int:
        return item * 2

    result = await ctx.map(event, double, max_concurrency=1)
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_9_3(event: list[int], ctx: DurableContext) -> list[Any]:
    async def plus_index(item_ctx: DurableContext, item: int, index: int) -> int:
        return item + index

    result = await ctx.map(event, plus_index, name="indexed", max_concurrency=1)
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_9_4(event: list[Any], ctx: DurableContext) -> list[Any]:
    result = await ctx.map(event, same, name="empty")
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_9_5(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.map(
        ["ok", "fail", "never"],
        fail_on_fail,
        name="failfast",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=0),
    )
    return summary(result)


@durable_execution(logging=LOGS)
async def req_9_6(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.map(
        ["fail", "never"],
        fail_on_fail,
        name="throwing",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=0),
    )
    result.throw_if_error()
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_9_7(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.map(
        ["i0", "i1", "i2", "i3"],
        same,
        name="min-successful",
        max_concurrency=1,
        completion=CompletionConfig(min_successful=2),
    )
    return counts(result, "completionReason", "successCount", "totalCount")


@durable_execution(logging=LOGS)
async def req_9_8(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.map(
        ["ok", "fail", "ok"],
        fail_on_fail,
        name="tolerated",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=1),
    )
    return summary(result)


@durable_execution(logging=LOGS)
async def req_9_9(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.map(
        ["fail", "fail", "never"],
        fail_on_fail,
        name="tolerated-exceeded",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=1),
    )
    return counts(result, "completionReason", "successCount", "failureCount", "totalCount")


@durable_execution(logging=LOGS)
async def req_9_10(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.map(
        ["fail", "fail", "never", "never"],
        fail_on_fail,
        name="tolerated-pct",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_percentage=25),
    )
    return counts(result, "completionReason", "successCount", "failureCount", "totalCount")


@durable_execution(logging=LOGS)
async def req_9_11(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.map(["r0", "r1", "r2"], same, name="concurrent", max_concurrency=2)
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_9_12(event: None, ctx: DurableContext) -> list[Any]:
    async def stepped(item_ctx: DurableContext, item: str, index: int) -> str:
        return await item_ctx.step(lambda: item)

    result = await ctx.map(
        ["fa", "fb"], stepped, name="flat", max_concurrency=1, nesting=Nesting.FLAT
    )
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_9_13(event: list[int], ctx: DurableContext) -> list[Any]:
    async def times_ten(item_ctx: DurableContext, item: int, index: int) -> int:
        return item * 10

    result = await ctx.map(
        event,
        times_ten,
        name="named-items",
        max_concurrency=1,
        item_namer=lambda item, index: f"item-{item}",
    )
    return result.get_results()


class WrappedText:
    """Stores an item result as ``wrapped:<text>``."""

    def serialize(self, value: str, context: SerdesContext) -> str | None:
        return f"wrapped:{value}"

    def deserialize(self, text: str, context: SerdesContext) -> str:
        return text.removeprefix("wrapped:")


@durable_execution(logging=LOGS)
async def req_9_14(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.map(
        ["x", "y"], upper, name="serdes", max_concurrency=1, item_serdes=WrappedText()
    )
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_9_15(event: None, ctx: DurableContext) -> list[Any]:
    async def maybe_wait(item_ctx: DurableContext, item: str, index: int) -> str:
        if index == 1:
            await item_ctx.wait(1)
        return await item_ctx.step(lambda: item)

    result = await ctx.map(["r0", "r1"], maybe_wait, name="suspend", max_concurrency=1)
    return result.get_results()


LARGE_ITEM_CHARS = 70 * 1024


@durable_execution(logging=LOGS)
async def req_9_16(event: None, ctx: DurableContext) -> dict[str, Any]:
    async def large(item_ctx: DurableContext, item: str, index: int) -> str:
        return item * LARGE_ITEM_CHARS

    result = await ctx.map(["a", "b", "c", "d"], large, name="large", max_concurrency=1)
    return counts(result, "successCount", "totalCount")


@durable_execution(logging=LOGS)
async def req_9_17(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.map(["a", "b"], upper, name="then-wait", max_concurrency=1)
    await ctx.wait(1)
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_9_18(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.map(
        ["ok", "fail"],
        fail_on_fail,
        name="fail-then-wait",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=1),
    )
    await ctx.wait(1)
    return summary(result)


class JoinedResults:
    """Stores a whole map result as ``OPSERDE:<comma-joined results>``."""

    PREFIX = "OPSERDE:"

    def serialize(self, value: BatchResult[str], context: SerdesContext) -> str | None:
        return self.PREFIX + ",".join(str(item) for item in value.get_results())

    def deserialize(self, text: str, context: SerdesContext) -> BatchResult[str]:
        values = text.removeprefix(self.PREFIX).split(",")
        items = [BatchItem(index=i, status="SUCCEEDED", result=v) for i, v in enumerate(values)]
        return BatchResult(all=items, completion_reason="ALL_COMPLETED")


@durable_execution(logging=LOGS)
async def req_9_19(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.map(
        ["x", "y"], upper, name="op-serde", max_concurrency=1, serdes=JoinedResults()
    )
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_9_20(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.map(
        ["x", "y"], upper, name="op-serde-replay", max_concurrency=1, serdes=JoinedResults()
    )
    await ctx.wait(1)
    return result.get_results()
