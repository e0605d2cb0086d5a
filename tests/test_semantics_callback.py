"""Callback answers that do not fit: a typed, catchable error naming the callback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from aiodurable import CallbackError, CallbackResultError, DurableContext, durable_execution
from aiodurable.testing import LocalRunner


class Approval(msgspec.Struct):
    approved: bool
    reviewer: str


@durable_execution
async def asks_until_understood(event: object, ctx: DurableContext) -> str:
    for attempt in range(1, 4):
        callback = await ctx.create_callback(
            name=f"approval-{attempt}", result_type=Approval, timeout=timedelta(hours=1)
        )
        try:
            answer = await callback.result()
        except CallbackResultError as exc:
            ctx.logger.info("unreadable answer", error=str(exc))
            continue
        return f"{answer.reviewer}:{answer.approved}"
    return "gave up"


async def _answer(run: Any, name: str, raw: str) -> None:
    """Answer callback ``name`` with ``raw`` text once it has started, as a sender would."""
    await run.callback_started(name)
    run.complete_callback(name, raw=raw)


async def test_a_malformed_and_a_wrongly_shaped_answer_can_be_caught_and_asked_again() -> None:
    async with LocalRunner(asks_until_understood) as runner:
        run = await runner.start({})
        await _answer(run, "approval-1", "{bad")
        await _answer(run, "approval-2", '{"approved": "yes"}')
        await _answer(run, "approval-3", '{"approved": true, "reviewer": "ana"}')
        final = await run.wait()

    assert final.status == "SUCCEEDED"
    assert final.result == "ana:True"


@durable_execution
async def reports_the_error(event: object, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name="approval", result_type=Approval)
    try:
        await callback.result()
    except CallbackError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "decoded"


async def test_the_error_names_the_callback_and_the_expected_type() -> None:
    async with LocalRunner(reports_the_error) as runner:
        run = await runner.start({})
        await _answer(run, "approval", "{bad")
        final = await run.wait()

    assert final.status == "SUCCEEDED"
    message = final.result or ""
    assert message.startswith("CallbackResultError: callback 'approval'")
    assert "Approval" in message and "ask again" in message


@durable_execution
async def waits_for_a_bad_answer(event: object, ctx: DurableContext) -> str:
    async def submit(callback_id: str) -> None:
        return None

    try:
        await ctx.wait_for_callback(submit, name="review", result_type=Approval)
    except CallbackResultError as exc:
        return "caught: " + str(exc).split(",")[0]
    return "decoded"


async def test_wait_for_callback_raises_the_same_error() -> None:
    async with LocalRunner(waits_for_a_bad_answer) as runner:
        run = await runner.start({})
        callback = await run.callback_started()
        run.complete_callback(callback.callback_id or "", raw="[1, 2")
        final = await run.wait()

    assert final.status == "SUCCEEDED"
    assert (final.result or "").startswith("caught: callback")


@durable_execution
async def takes_an_empty_answer(event: object, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name="ping", result_type=Approval)
    value = await callback.result()
    return "none" if value is None else "value"


async def test_an_empty_success_payload_is_none() -> None:
    async with LocalRunner(takes_an_empty_answer) as runner:
        run = await runner.start({})
        await _answer(run, "ping", "")
        final = await run.wait()

    assert final.status == "SUCCEEDED"
    assert final.result == "none"
