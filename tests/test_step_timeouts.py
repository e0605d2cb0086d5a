"""Per-attempt timeouts: an attempt past ``timeout=`` fails with StepTimeoutError, which
the retry strategy sees; the body is cancelled (async) or abandoned (sync) and a late
result is never recorded; the workflow goes on; plugins and OpenTelemetry see a failed
attempt. And ``ctx.step`` forwards positional arguments only."""

from __future__ import annotations

import asyncio
import functools
import threading
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiodurable import (
    DurableContext,
    Jitter,
    Plugin,
    RetryDecision,
    RetryStrategy,
    StepContext,
    StepError,
    StepTimeoutError,
    ValidationError,
    WaitForConditionError,
    WaitStrategy,
    durable_execution,
)
from aiodurable.otel import OpenTelemetryPlugin
from aiodurable.plugins import UserFunctionEndInfo
from aiodurable.testing import LocalRunner

TIMEOUT_TYPE = "aiodurable.errors.StepTimeoutError"


async def hang_on_first_attempt() -> str:
    """Attempt 1 never finishes by itself; attempt 2 answers at once."""
    if StepContext.current().attempt == 1:
        await asyncio.Event().wait()
    return f"attempt {StepContext.current().attempt}"


async def test_a_timed_out_attempt_is_an_error_the_retry_strategy_sees() -> None:
    seen: list[tuple[str, int]] = []

    def policy(error: Exception, attempt: int) -> RetryDecision:
        seen.append((type(error).__name__, attempt))
        return RetryDecision(True, 1)

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        value = await ctx.step(hang_on_first_attempt, name="call", timeout=0.05, retry=policy)
        return value + ", then " + await ctx.step(lambda: "the workflow went on", name="next")

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == "attempt 2, then the workflow went on"
    assert seen == [("StepTimeoutError", 1)]
    assert run.step("call").attempts == 2


async def test_a_strategy_that_does_not_retry_timeouts_fails_the_step_with_step_timeout_error() -> (
    None
):
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.step(
                hang_on_first_attempt,
                name="call",
                timeout=timedelta(milliseconds=50),
                retry=RetryStrategy(retryable_errors=(ConnectionError,)),
            )
        except StepTimeoutError as error:
            caught = f"{error.error_type}: {error}"
        await ctx.wait(5)  # the next invocation replays the failure: same error
        return caught

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.invocations == 2
    assert run.result == (
        f"{TIMEOUT_TYPE}: step 'call' attempt 1 ran past its timeout of 0.05 s; it was cancelled"
    )
    assert run.step("call").status == "FAILED"
    assert run.step("call").error is not None
    assert run.step("call").error.error_type == TIMEOUT_TYPE  # type: ignore[union-attr]


async def test_an_async_body_that_swallows_its_cancellation_still_timed_out() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "late value"  # returned after the deadline: never recorded
        return "unreachable"

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            return await ctx.step(stubborn, name="stubborn", timeout=0.05, retry=RetryStrategy(1))
        except StepError as error:
            return str(error.error_type)

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == TIMEOUT_TYPE
    assert run.step("stubborn").result is None


async def test_a_sync_body_is_abandoned_in_its_thread_and_its_late_result_is_dropped() -> None:
    release = threading.Event()
    finished: list[str] = []

    def blocking() -> str:
        attempt = StepContext.current().attempt
        if attempt == 1:
            release.wait(30)  # the worker thread, not the loop, waits
        finished.append(f"attempt {attempt} in {threading.current_thread().name}")
        return f"attempt {attempt}"

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        value = await ctx.step(
            blocking, name="blocking", timeout=0.05, retry=RetryStrategy(initial_delay=1)
        )
        release.set()  # attempt 1's thread now finishes, after attempt 2 was recorded
        return value

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})
        await asyncio.to_thread(_wait_for, lambda: len(finished) == 2)

    assert run.result == "attempt 2"
    assert msgspec.json.decode(run.step("blocking").result or "") == "attempt 2"
    assert [f.split(" in ")[0] for f in finished] == ["attempt 2", "attempt 1"]
    assert all("AnyIO worker thread" in f for f in finished)


def _wait_for(condition: Any) -> None:
    for _ in range(3000):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("the abandoned thread never finished")


class Outcomes(Plugin):
    def __init__(self) -> None:
        self.ends: list[tuple[str | None, int | None, str, str | None]] = []

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        error = info.error.error_type if info.error else None
        self.ends.append((info.name, info.attempt, str(info.outcome), error))


@pytest.mark.parametrize("body", ["async", "sync"])
async def test_plugins_and_opentelemetry_see_the_timed_out_attempt_as_failed(body: str) -> None:
    release = threading.Event()

    def blocking() -> str:
        if StepContext.current().attempt == 1:
            release.wait(30)
        return "done"

    fn = hang_on_first_attempt if body == "async" else blocking
    outcomes = Outcomes()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel = OpenTelemetryPlugin(tracer_provider=provider)

    @durable_execution(plugins=[outcomes, otel])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            return str(await ctx.step(fn, name="call", timeout=0.05, retry=RetryStrategy(2, 1)))
        finally:
            release.set()

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.succeeded
    assert outcomes.ends == [
        ("call", 1, "FAILED", TIMEOUT_TYPE),
        ("call", 2, "SUCCEEDED", None),
    ]
    attempts = sorted(
        (s for s in exporter.get_finished_spans() if s.name.startswith("call attempt")),
        key=lambda s: s.name,
    )
    assert [(s.name, s.status.status_code.name) for s in attempts] == [
        ("call attempt 1", "ERROR"),
        ("call attempt 2", "OK"),
    ]


async def test_a_wait_for_condition_check_past_its_timeout_fails_the_operation() -> None:
    async def check(state: int) -> int:
        if state >= 1:
            await asyncio.Event().wait()
        return state + 1

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.wait_for_condition(
                check,
                initial_state=0,
                wait_strategy=WaitStrategy(lambda s: s < 5, initial_delay=1, jitter=Jitter.NONE),
                name="poll",
                timeout=0.05,
            )
        except WaitForConditionError as error:
            return f"{error.error_type}: {error}"
        return "met"

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == (
        f"{TIMEOUT_TYPE}: step 'poll' attempt 2 ran past its timeout of 0.05 s; it was cancelled"
    )


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "5", True, timedelta(0)])
async def test_a_timeout_must_be_positive_seconds_or_a_timedelta(bad: Any) -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        with pytest.raises(ValidationError, match="timeout"):
            ctx.step(hang_on_first_attempt, timeout=bad)
        return "refused"

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})
    assert run.result == "refused" and run.operations == []


# -- arguments: positional only, keywords through functools.partial -----------------------
class Receipt(msgspec.Struct):
    order: str
    name: str
    timeout: float


async def issue_receipt(order: str, *, name: str, timeout: float) -> Receipt:  # noqa: ASYNC109
    return Receipt(order, name, timeout)


async def test_a_keyword_that_is_not_an_option_is_a_type_error_naming_partial() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        with pytest.raises(TypeError) as raised:
            ctx.step(issue_receipt, "o-1", customer="ana")  # type: ignore[call-overload]
        return str(raised.value)

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == (
        "ctx.step() got unexpected keyword argument(s) 'customer': its keywords are its own "
        "options (name, retry, semantics, timeout, result_type, serdes, sub_type) and it "
        "forwards positional arguments only. To pass keywords to the function, bind them "
        "with functools.partial: ctx.step(functools.partial(fn, customer=...), ...)"
    )
    assert run.operations == []


async def test_partial_passes_keywords_that_share_an_option_name_and_keeps_the_result_type() -> (
    None
):
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> Receipt:
        bound = functools.partial(issue_receipt, name="for the function", timeout=9.5)
        receipt = await ctx.step(bound, "o-1", timeout=5)
        assert isinstance(receipt, Receipt)  # typed from issue_receipt's annotation
        await ctx.wait(1)  # replayed from the checkpoint as a Receipt too
        return receipt

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == Receipt("o-1", "for the function", 9.5)
    assert run.invocations == 2
    assert [op.name for op in run.operations] == ["issue_receipt", None]
