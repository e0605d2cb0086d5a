"""``ctx.lambda_context``: the invocation's Lambda context, as the official SDK gives it.

A workflow that sizes its work by the time left, the official SDK's
``context.lambda_context.get_remaining_time_in_millis()``, runs on the local backend with
a realistic context and is ``None``-safe when the handler gets none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiodurable import DurableContext, durable_execution
from aiodurable.lambda_context import LAMBDA_MAX_TIMEOUT, LocalLambdaContext
from aiodurable.testing import LocalRunner
from tests.service_harness import ServiceHarness

seen: list[dict[str, Any]] = []


async def process(item: int) -> int:
    return item * 2


@durable_execution
async def time_boxed(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    lc = ctx.lambda_context
    assert lc is not None
    seen.append(
        {
            "request_id": lc.aws_request_id,
            "arn": lc.invoked_function_arn,
            "name": lc.function_name,
            "left": lc.get_remaining_time_in_millis(),
            "replaying": ctx.is_replaying(),
        }
    )
    # The official SDK's pattern: take items while enough time is left in this invocation.
    done = []
    for item in event["items"]:
        if lc.get_remaining_time_in_millis() < 10_000:
            break
        done.append(await ctx.step(process, item, name=f"item-{item}"))
    await ctx.wait(timedelta(minutes=20), name="pause")

    async def in_child(child: DurableContext) -> str:
        assert child.lambda_context is ctx.lambda_context
        return child.lambda_context.aws_request_id if child.lambda_context else ""

    request_in_child = await ctx.run_in_child_context(in_child, name="child")
    return {"done": done, "request_in_child": request_in_child}


async def test_local_invocations_get_a_realistic_lambda_context() -> None:
    seen.clear()
    async with LocalRunner(time_boxed) as runner:
        result = await runner.run({"items": [1, 2, 3]})
        arn = runner.backend.function_arn(runner.function_name)

    assert result.status == "SUCCEEDED", result.error
    assert result.result["done"] == [2, 4, 6]
    first, second = seen
    # each invocation has its own request id; the function's ARN and name stay
    assert first["request_id"] != second["request_id"]
    assert result.result["request_in_child"] == second["request_id"]
    assert first["arn"] == second["arn"] == arn
    assert first["name"] == runner.function_name
    # Lambda's 15-minute budget, counted on the backend's clock from the invocation start
    assert 0 < first["left"] <= LAMBDA_MAX_TIMEOUT.total_seconds() * 1000
    assert second["replaying"] is True


def test_remaining_time_counts_down_on_the_backends_clock_and_stops_at_zero() -> None:
    from datetime import UTC, datetime

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    lc = LocalLambdaContext(
        aws_request_id="r-1",
        function_name="fn",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        deadline=now[0] + LAMBDA_MAX_TIMEOUT,
        now=lambda: now[0],
    )
    assert lc.get_remaining_time_in_millis() == 900_000
    now[0] += timedelta(minutes=14, seconds=59, milliseconds=500)
    assert lc.get_remaining_time_in_millis() == 500
    now[0] += timedelta(seconds=3)
    assert lc.get_remaining_time_in_millis() == 0
    assert lc.log_group_name == "/aws/lambda/fn"
    assert lc.function_version == "$LATEST"


@dataclass
class RuntimeContext:
    """What Lambda's Python runtime passes: only the attributes a workflow reads."""

    aws_request_id: str = "c0ffee"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:111122223333:function:orders:live"

    def get_remaining_time_in_millis(self) -> int:
        return 42_000


@durable_execution
async def reports_context(event: Any, ctx: DurableContext) -> list[Any]:
    lc = ctx.lambda_context
    if lc is None:
        return [None]
    return [lc.aws_request_id, lc.invoked_function_arn, lc.get_remaining_time_in_millis()]


async def test_the_handlers_lambda_context_is_handed_through_and_none_without_one() -> None:
    service = ServiceHarness()
    arn = service.start()
    output = await reports_context.run(service.event(arn), RuntimeContext(), client=service)
    assert output["Status"] == "SUCCEEDED"
    assert output["Result"] == (
        '["c0ffee","arn:aws:lambda:eu-west-1:111122223333:function:orders:live",42000]'
    )

    other = service.start(name="bare")
    output = await reports_context.run(service.event(other), client=service)
    assert output["Result"] == "[null]"
