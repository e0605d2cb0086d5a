"""Suite 8: parallel."""

from __future__ import annotations

from typing import Any

from aiodurable import (
    BatchResult,
    CompletionConfig,
    DurableContext,
    NamedBranch,
    Nesting,
    SerdesContext,
    durable_execution,
)
from aiodurable.serdes import decode_json, encode_json

from ..execution_logs import LOGS
from .batch_projection import counts, summary


def constant(value: Any) -> Any:
    """A branch that returns ``value`` without any durable operation."""

    async def branch(ctx: DurableContext) -> Any:
        return value

    return branch


def stepped(value: Any) -> Any:
    """A branch that returns ``value`` from a step."""

    async def branch(ctx: DurableContext) -> Any:
        return await ctx.step(lambda: value)

    return branch


async def failing(ctx: DurableContext) -> Any:
    raise RuntimeError("branch failed")


@durable_execution(logging=LOGS)
async def req_8_1(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.parallel(
        [stepped("task-1"), stepped("task-2")], name="parallel", max_concurrency=1
    )
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_2(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.parallel([constant("alpha"), constant("beta")], max_concurrency=1)
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_3(event: None, ctx: DurableContext) -> list[Any]:
    branches = [NamedBranch("first", constant("one")), NamedBranch("second", constant("two"))]
    result = await ctx.parallel(branches, name="named", max_concurrency=1)
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_4(event: None, ctx: DurableContext) -> list[Any]:
    branches = [constant("hello"), constant(42), constant({"k": "v"})]
    result = await ctx.parallel(branches, name="hetero", max_concurrency=1)
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_5(event: None, ctx: DurableContext) -> list[Any]:
    result: BatchResult[Any] = await ctx.parallel([], name="empty")
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_6(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.parallel(
        [constant("ok"), failing, constant("never")],
        name="failfast",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=0),
    )
    return summary(result)


@durable_execution(logging=LOGS)
async def req_8_7(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.parallel(
        [failing, constant("never")],
        name="throwing",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=0),
    )
    result.throw_if_error()
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_8(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.parallel(
        [constant(f"b{i}") for i in range(4)],
        name="min-successful",
        max_concurrency=1,
        completion=CompletionConfig(min_successful=2),
    )
    return counts(result, "completionReason", "successCount", "totalCount")


@durable_execution(logging=LOGS)
async def req_8_9(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.parallel(
        [constant("b0"), failing, constant("b2")],
        name="tolerated",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=1),
    )
    return summary(result)


@durable_execution(logging=LOGS)
async def req_8_10(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.parallel(
        [failing, failing, constant("never")],
        name="tolerated-exceeded",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=1),
    )
    return counts(result, "completionReason", "successCount", "failureCount", "totalCount")


@durable_execution(logging=LOGS)
async def req_8_11(event: None, ctx: DurableContext) -> list[Any]:
    branches = [constant("r0"), constant("r1"), constant("r2")]
    result = await ctx.parallel(branches, name="concurrent", max_concurrency=2)
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_12(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.parallel(
        [stepped("fa"), stepped("fb")], name="flat", max_concurrency=1, nesting=Nesting.FLAT
    )
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_13(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.parallel(
        [failing, failing, constant("b2"), constant("b3")],
        name="tolerated-pct",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_percentage=25),
    )
    return counts(result, "completionReason", "successCount", "failureCount", "totalCount")


@durable_execution(logging=LOGS)
async def req_8_14(event: None, ctx: DurableContext) -> list[Any]:
    async def waits_then_returns(branch: DurableContext) -> str:
        await branch.wait(2)
        return "b1"

    result = await ctx.parallel(
        [stepped("b0"), waits_then_returns], name="replay", max_concurrency=1
    )
    return result.get_results()


class WrappedSerdes:
    """Stores a branch result as ``{"wrapped": value}``."""

    def serialize(self, value: Any, context: SerdesContext) -> str | None:
        return encode_json({"wrapped": value})

    def deserialize(self, text: str, context: SerdesContext) -> Any:
        return decode_json(text, dict[str, Any])["wrapped"]


@durable_execution(logging=LOGS)
async def req_8_15(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.parallel(
        [constant("x"), constant("y")],
        name="serde",
        max_concurrency=1,
        item_serdes=WrappedSerdes(),
    )
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_16(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.parallel(
        [failing, failing, failing],
        name="all-fail",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=3),
    )
    return summary(result)


@durable_execution(logging=LOGS)
async def req_8_17(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.parallel(
        [constant("b0"), failing, constant("b2")],
        name="min-not-reached",
        max_concurrency=1,
        completion=CompletionConfig(min_successful=3),
    )
    return summary(result)


@durable_execution(logging=LOGS)
async def req_8_18(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.parallel(
        [failing, failing, constant("b2"), constant("b3")],
        name="combined",
        max_concurrency=1,
        completion=CompletionConfig(min_successful=3, tolerated_failure_count=1),
    )
    return counts(result, "completionReason", "successCount", "failureCount", "totalCount")


@durable_execution(logging=LOGS)
async def req_8_19(event: None, ctx: DurableContext) -> list[Any]:
    result = await ctx.parallel(
        [constant("b0"), constant("b1")], name="bad-concurrency", max_concurrency=0
    )
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_20(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.parallel(
        [constant("b0"), failing, constant("b2")],
        name="accessors",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_count=1),
    )
    return {
        "hasFailure": result.has_failure,
        "successCount": len(result.succeeded()),
        "failureCount": len(result.failed()),
        "errorCount": len(result.get_errors()),
    }


@durable_execution(logging=LOGS)
async def req_8_21(event: None, ctx: DurableContext) -> list[Any]:
    async def inner_parallel(branch: DurableContext) -> list[Any]:
        inner = await branch.parallel(
            [stepped("i1"), stepped("i2")], name="inner", max_concurrency=1
        )
        return inner.get_results()

    result = await ctx.parallel([inner_parallel], name="outer", max_concurrency=1)
    return result.get_results()


@durable_execution(logging=LOGS)
async def req_8_22(event: None, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.parallel(
        [failing, constant("b1"), constant("b2"), constant("b3")],
        name="pct-boundary",
        max_concurrency=1,
        completion=CompletionConfig(tolerated_failure_percentage=25),
    )
    return summary(result)
