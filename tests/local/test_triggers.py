"""The backend invokes the handler again whenever something it waits for happens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from aiodurable import (
    CallbackTimeoutError,
    DurableContext,
    InvokeError,
    RetryStrategy,
    StepError,
    durable_execution,
)
from aiodurable.local import EventType, ExecutionStalledError
from aiodurable.testing import CallbackRequest, LocalRunner


class Receipt(msgspec.Struct):
    order_id: str
    amount: int


@durable_execution
async def order(event: dict[str, Any], ctx: DurableContext) -> Receipt:
    await ctx.wait(timedelta(days=7), name="cool-off")
    amount = await ctx.step(lambda: 42, name="price")
    return Receipt(event["order_id"], amount)


async def test_a_seven_day_wait_ends_and_the_handler_runs_again() -> None:
    async with LocalRunner(order) as runner:
        started = runner.now()
        run = await runner.run({"order_id": "o-1"})

    assert run.status == "SUCCEEDED"
    assert run.result == Receipt("o-1", 42)
    assert run.invocations == 2
    assert runner.now() - started >= timedelta(days=7)
    assert run.wait_operation("cool-off").status == "SUCCEEDED"


async def test_virtual_time_stands_still_until_the_test_awaits_or_advances() -> None:
    async with LocalRunner(order) as runner:
        run = await runner.start({"order_id": "o-2"})
        await runner.backend.wait_until(lambda: run.events(EventType.INVOCATION_COMPLETED) != [])
        assert run.status == "RUNNING"
        assert run.wait_operation("cool-off").status == "STARTED"

        runner.advance(timedelta(days=7))
        result = await run.wait()

    assert result.result == Receipt("o-2", 42)


attempts: list[int] = []


def flaky() -> str:
    attempts.append(1)
    if len(attempts) < 3:
        raise ConnectionError("payment gateway unavailable")
    return "charged"


@durable_execution
async def charge(event: Any, ctx: DurableContext) -> str:
    return await ctx.step(
        flaky, name="charge", retry=RetryStrategy(max_attempts=5, initial_delay=30)
    )


async def test_a_due_step_retry_invokes_the_handler_again() -> None:
    attempts.clear()
    async with LocalRunner(charge) as runner:
        run = await runner.run()

    assert run.result == "charged"
    assert run.step("charge").attempts == 3
    failures = run.events(EventType.STEP_FAILED)
    assert [e.step_failed_details.retry_details.current_attempt for e in failures] == [1, 2]  # type: ignore[union-attr]
    assert run.invocations == 3


@durable_execution
async def approval(event: Any, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name="approve", timeout=3600, result_type=str)
    try:
        return str(await callback.result())
    except CallbackTimeoutError as exc:
        return f"timed out: {exc.error_type}"


@durable_execution
async def heartbeat_approval(event: Any, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name="approve", heartbeat_timeout=60, result_type=str)
    try:
        return str(await callback.result())
    except CallbackTimeoutError as exc:
        return f"timed out: {exc.error_type}"


async def test_a_callback_completed_from_the_test_resumes_the_execution() -> None:
    async with LocalRunner(approval) as runner:
        run = await runner.start()
        callback = await run.callback_started("approve")
        run.complete_callback("approve", "yes")
        result = await run.wait()

    assert result.result == "yes"
    assert callback.callback_id == result.callback("approve").callback_id
    assert len(callback.callback_id or "") >= 32


async def test_a_failed_callback_raises_in_the_workflow() -> None:
    @durable_execution
    async def strict(event: Any, ctx: DurableContext) -> str:
        callback = await ctx.create_callback(name="approve")
        return str(await callback.result())

    async with LocalRunner(strict) as runner:
        run = await runner.start()
        await run.callback_started("approve")
        run.fail_callback("approve", "rejected by finance", error_type="Rejected")
        result = await run.wait()

    assert result.status == "FAILED"
    assert result.callback("approve").error is not None
    assert result.callback("approve").error.error_type == "Rejected"  # type: ignore[union-attr]
    assert result.events(EventType.CALLBACK_FAILED)


async def test_a_callback_times_out_when_nobody_answers() -> None:
    async with LocalRunner(approval) as runner:
        run = await runner.run()

    assert run.result == "timed out: Callback.Timeout"
    assert run.callback("approve").status == "TIMED_OUT"


async def test_a_missed_heartbeat_times_the_callback_out_and_a_heartbeat_keeps_it_alive() -> None:
    async with LocalRunner(heartbeat_approval) as runner:
        run = await runner.start()
        await run.callback_started("approve")
        runner.advance(50)
        run.heartbeat_callback("approve")
        runner.advance(50)  # 100 s after the start, 50 s after the heartbeat
        assert run.callback("approve").status == "STARTED"
        result = await run.wait()

    assert result.result == "timed out: Callback.Heartbeat"
    timed_out = result.events(EventType.CALLBACK_TIMED_OUT)[0]
    assert timed_out.event_timestamp - result.callback(
        "approve"
    ).operation.start_timestamp == timedelta(seconds=110)  # type: ignore[operator]


async def test_a_scripted_responder_answers_callbacks() -> None:
    seen: list[CallbackRequest] = []

    async def approve(request: CallbackRequest) -> str:
        seen.append(request)
        return "approved"

    async with LocalRunner(approval) as runner:
        runner.on_callback("approve", approve)
        run = await runner.run()

    assert run.result == "approved"
    assert [r.name for r in seen] == ["approve"]


async def test_waiting_for_a_callback_nobody_completes_is_reported() -> None:
    @durable_execution
    async def forever(event: Any, ctx: DurableContext) -> str:
        callback = await ctx.create_callback(name="never")
        return str(await callback.result())

    async with LocalRunner(forever) as runner:
        with pytest.raises(ExecutionStalledError, match="callback never"):
            await runner.run()


@durable_execution
async def shipping(event: dict[str, Any], ctx: DurableContext) -> str:
    await ctx.wait(3600)
    return f"shipped {event['order_id']}"


@durable_execution
async def checkout(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    shipped = await ctx.invoke("shipping", {"order_id": event["order_id"]}, name="ship")
    quote = await ctx.invoke("quote", {"items": 3}, name="quote")
    return {"shipped": shipped, "quote": quote}


async def quote(payload: dict[str, int]) -> int:
    return payload["items"] * 10


async def test_a_finished_chained_invoke_resumes_the_caller() -> None:
    async with LocalRunner(checkout, functions={"shipping": shipping, "quote": quote}) as runner:
        run = await runner.run({"order_id": "o-7"})
        children = runner.backend.executions("shipping")

    assert run.result == {"shipped": "shipped o-7", "quote": 30}
    started = run.events(EventType.CHAINED_INVOKE_STARTED)
    details = started[0].chained_invoke_started_details
    assert details is not None
    assert details.function_name == "shipping"
    assert details.durable_execution_arn == children[0].arn
    assert children[0].parent_arn == run.arn
    assert children[0].status == "SUCCEEDED"
    assert len(run.events(EventType.CHAINED_INVOKE_SUCCEEDED)) == 2


async def test_invoking_an_unknown_function_fails_the_invoke_at_once() -> None:
    @durable_execution
    async def caller(event: Any, ctx: DurableContext) -> str:
        try:
            return str(await ctx.invoke("missing", {}, name="call"))
        except InvokeError as exc:
            return f"failed: {exc.error_type}"

    async with LocalRunner(caller) as runner:
        run = await runner.run()

    assert run.result == "failed: ResourceNotFoundException"
    assert run.invocations == 1


async def test_an_invocation_that_raises_is_retried_then_fails_the_execution() -> None:
    class Crashing:
        calls = 0

        async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
            Crashing.calls += 1
            raise RuntimeError("the sandbox crashed")

    async with LocalRunner(Crashing(), function_name="crashing") as runner:
        run = await runner.run()

    assert run.status == "FAILED"
    assert Crashing.calls == 5
    completed = run.events(EventType.INVOCATION_COMPLETED)
    assert len(completed) == 5
    error = completed[0].invocation_completed_details.error  # type: ignore[union-attr]
    assert error is not None and error.payload is not None
    assert error.payload.error_type == "RuntimeError"
    assert run.error is not None and run.error.error_message == "the sandbox crashed"


async def test_a_step_error_fails_the_execution_with_the_step_error() -> None:
    @durable_execution
    async def failing(event: Any, ctx: DurableContext) -> None:
        def boom() -> None:
            raise ValueError("bad input")

        await ctx.step(boom, name="boom", retry=RetryStrategy.no_retry())

    async with LocalRunner(failing) as runner:
        run = await runner.run()

    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "aiodurable.errors.StepError"
    assert run.step("boom").error is not None
    with pytest.raises(StepError):
        raise StepError.from_error_object(run.error)
    events = [e.event_type for e in run.history]
    assert events[-2:] == [EventType.INVOCATION_COMPLETED, EventType.EXECUTION_FAILED]


async def test_stopping_an_execution_ends_it_and_reports_it_to_the_caller() -> None:
    @durable_execution
    async def slow(event: Any, ctx: DurableContext) -> None:
        await ctx.wait(timedelta(days=1))

    @durable_execution
    async def parent(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.invoke("slow", None, name="child")
        except InvokeError as exc:
            return f"child {exc.error_type or 'stopped'}"
        return "child finished"

    async with LocalRunner(parent, functions={"slow": slow}) as runner:
        run = await runner.start()
        await runner.backend.wait_until(lambda: bool(runner.backend.executions("slow")))
        child = runner.backend.executions("slow")[0]
        runner.backend.stop_execution(child.arn)
        result = await run.wait()

    assert runner.backend.describe(child.arn).status == "STOPPED"
    assert result.status == "SUCCEEDED"
    assert result.operation("child").status == "STOPPED"
    assert result.events(EventType.CHAINED_INVOKE_STOPPED)


async def test_starting_an_execution_twice_by_name_returns_the_same_execution() -> None:
    async with LocalRunner(order) as runner:
        first = await runner.start({"order_id": "o-9"}, name="order-9")
        again = await runner.start({"order_id": "o-9"}, name="order-9")
        assert first.arn == again.arn
        await first.wait()


async def test_a_process_exit_is_a_failed_invocation_and_the_handler_runs_again() -> None:
    exited: list[str] = []

    @durable_execution
    async def exits_once(event: Any, ctx: DurableContext) -> str:
        def crash() -> str:
            if not exited:
                exited.append("x")
                raise SystemExit(1)
            return "recovered"

        return await ctx.step(crash, name="crash")

    async with LocalRunner(exits_once) as runner:
        run = await runner.run()

    assert run.result == "recovered"
    first = run.events(EventType.INVOCATION_COMPLETED)[0].invocation_completed_details
    assert first is not None and first.error is not None and first.error.payload is not None
    assert first.error.payload.error_type == "Runtime.ExitError"
