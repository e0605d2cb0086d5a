"""``Run.wait_for_callback`` moves virtual time until the callback starts."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta

import anyio
import pytest

from aiodurable import CallbackTimeoutError, DurableContext, durable_execution
from aiodurable.local import ExecutionStalledError
from aiodurable.testing import CallbackRequest, LocalRunner, UnmatchedResponderError


@durable_execution
async def waits_then_asks(event: object, ctx: DurableContext) -> str:
    await ctx.wait(timedelta(hours=6), name="cool-off")
    callback = await ctx.create_callback(
        name="approval", timeout=timedelta(days=1), result_type=str
    )
    answer: str = await callback.result()
    return answer


async def test_a_durable_wait_before_the_callback_passes_in_virtual_time() -> None:
    async with LocalRunner(waits_then_asks) as runner:
        started = runner.now()
        run = await runner.start()
        with anyio.fail_after(30):  # it used to spin here forever
            callback = await run.callback_started("approval")
        assert runner.now() - started >= timedelta(hours=6)
        run.complete_callback(callback.name or "approval", "yes")
        final = await run.wait()

    assert final.status == "SUCCEEDED"
    assert final.result == "yes"


@durable_execution
async def asks_for_something_else(event: object, ctx: DurableContext) -> str:
    await ctx.wait(timedelta(minutes=5))
    callback = await ctx.create_callback(name="other")
    answer: str = await callback.result()
    return answer


async def test_waiting_for_a_callback_that_never_starts_raises_execution_stalled() -> None:
    async with LocalRunner(asks_for_something_else) as runner:
        run = await runner.start()
        with pytest.raises(ExecutionStalledError, match="approval"), anyio.fail_after(30):
            await run.callback_started("approval")


async def notify_manager(callback_id: str) -> None:
    """A submitter that would e-mail the callback id."""


@durable_execution
async def asks_the_manager(event: object, ctx: DurableContext) -> str:
    try:
        answer: str = await ctx.wait_for_callback(
            notify_manager, name="manager", timeout=timedelta(days=1), result_type=str
        )
    except CallbackTimeoutError:
        return "timed out"
    return answer


async def test_a_responder_finds_the_wait_for_callback_by_the_users_name() -> None:
    async with LocalRunner(asks_the_manager) as runner:
        seen: list[str | None] = []

        def approve(request: CallbackRequest) -> str:
            seen.append(request.name)
            return "approved"

        runner.on_callback("manager", approve)
        result = await runner.run()

    assert result.result == "approved"
    assert seen == ["manager"]
    assert result.callback("manager").user_name == "manager"


async def test_run_wait_for_callback_finds_the_wait_for_callback_by_the_users_name() -> None:
    async with LocalRunner(asks_the_manager) as runner:
        run = await runner.start()
        with anyio.fail_after(30):
            callback = await run.callback_started("manager")
        run.complete_callback("manager", "yes")
        result = await run.wait()

    assert callback.user_name == "manager"
    assert result.result == "yes"


async def test_a_responder_that_matches_nothing_fails_the_test_naming_the_callbacks() -> None:
    runner = LocalRunner(asks_the_manager)
    runner.on_callback("manger", "approved")  # a typo
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(runner)
        result = await runner.run()
        assert result.result == "timed out"  # what the test would have seen
        with pytest.raises(UnmatchedResponderError, match=r"\['manger'\].*\['manager'\]"):
            await stack.aclose()


async def test_waiting_for_a_callback_name_that_never_starts_names_the_callbacks_started() -> None:
    async with LocalRunner(asks_the_manager) as runner:
        run = await runner.start()
        with pytest.raises(RuntimeError, match=r"ended before callback 'boss'.*'manager'"):
            await run.callback_started("boss")
