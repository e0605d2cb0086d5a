"""pydantic v2 models through checkpoints (the ``aiodurable[pydantic]`` extra): workflow
input, step results, callback results, map items and the workflow's result keep their
model types, on the first run and on replay, with pydantic's validation errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel, Field

from aiodurable import DurableContext, StepError, durable_execution
from aiodurable.testing import LocalRunner


class Line(BaseModel):
    sku: str
    quantity: int = Field(gt=0)
    price: Decimal


class Order(BaseModel):
    order_id: str
    lines: list[Line]
    placed_at: datetime


class Priced(BaseModel):
    sku: str
    total: Decimal


class Approval(BaseModel):
    approved: bool
    by: str


class Summary(BaseModel):
    order_id: str
    totals: list[Priced]
    approval: Approval
    replayed_types: list[str]


async def price(line: Line) -> Priced:
    return Priced(sku=line.sku, total=line.price * line.quantity)


async def price_item(ctx: DurableContext, line: Line, index: int) -> Priced:
    return await ctx.step(price, line, name=f"price-{line.sku}")


@durable_execution
async def checkout(order: Order, ctx: DurableContext) -> Summary:
    types = [type(order).__name__, type(order.lines[0]).__name__]
    first = await ctx.step(price, order.lines[0], name="first-line")
    types.append(type(first).__name__)
    batch = await ctx.map(order.lines, price_item, name="lines", result_type=Priced)
    types += [type(r).__name__ for r in batch.get_results()]
    approval = await ctx.wait_for_callback(
        lambda callback_id: None, name="approval", result_type=Approval
    )
    types.append(type(approval).__name__)
    await ctx.wait(60, name="cool-off")  # the tail runs after a replay of all the above
    return Summary(
        order_id=order.order_id,
        totals=[r for r in batch.get_results() if r is not None],
        approval=approval,
        replayed_types=types,
    )


ORDER = {
    "order_id": "o-1",
    "placed_at": "2026-12-07T10:00:00Z",
    "lines": [
        {"sku": "tea", "quantity": 2, "price": "3.50"},
        {"sku": "mug", "quantity": 1, "price": "12.00"},
    ],
}


async def test_models_round_trip_through_input_steps_map_callbacks_and_result() -> None:
    async with LocalRunner(checkout) as runner:
        runner.on_callback("approval create callback id", {"approved": True, "by": "sam"})
        result = await runner.run(ORDER)

    assert result.status == "SUCCEEDED", result.error
    summary = result.result
    assert isinstance(summary, Summary)  # the runner decodes the return annotation
    assert summary.totals == [
        Priced(sku="tea", total=Decimal("7.00")),
        Priced(sku="mug", total=Decimal("12.00")),
    ]
    assert summary.approval == Approval(approved=True, by="sam")
    # the second invocation replayed every value from its checkpoint as the model again
    assert summary.replayed_types == [
        "Order", "Line", "Priced", "Priced", "Priced", "Approval",
    ]  # fmt: skip
    assert json.loads(result.step("first-line").result) == {"sku": "tea", "total": "7.00"}


async def test_an_invalid_input_fails_the_execution_with_pydantics_message() -> None:
    async with LocalRunner(checkout) as runner:
        bad = {**ORDER, "lines": [{"sku": "tea", "quantity": 0, "price": "1"}]}
        result = await runner.run(bad)

    assert result.status == "FAILED"
    assert result.error is not None
    message = result.error.error_message or ""
    assert "the execution input does not match" in message
    assert "greater than 0" in message and "lines.0.quantity" in message


class Strict(BaseModel):
    count: int


async def make_bad() -> Strict:
    # a model that cannot survive its own checkpoint (a validator would reject it)
    return Strict.model_construct(count="many")  # type: ignore[arg-type]


@durable_execution
async def bad_result(event: object, ctx: DurableContext) -> str:
    try:
        await ctx.step(make_bad, name="bad")
    except StepError as exc:
        return exc.message
    return "stored"


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the point of the test
async def test_a_step_result_that_fails_validation_is_a_clear_step_error() -> None:
    async with LocalRunner(bad_result) as runner:
        result = await runner.run()
    assert result.status == "SUCCEEDED", result.error
    assert "Strict" in result.result and "valid integer" in result.result


def test_pydantic_is_not_imported_unless_the_program_uses_it() -> None:
    code = """
import asyncio, sys
from aiodurable import DurableContext, durable_execution
from aiodurable.testing import LocalRunner

@durable_execution
async def wf(event: dict, ctx: DurableContext) -> int:
    return await ctx.step(lambda: 1, name="one")

async def main():
    async with LocalRunner(wf) as runner:
        assert (await runner.run({})).result == 1

asyncio.run(main())
print("pydantic" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "False"
