"""Handlers for the scenarios of AWS's OpenTelemetry requirements (``Input.scenario``).

Each requirement names a scenario; :func:`scenario_handlers` builds one handler per
scenario, traced by the plugin it is given, so both views run the same workflows. The
span and operation names are the ones the requirements assert.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiodurable import (
    DurableContext,
    DurableHandler,
    Jitter,
    NamedBranch,
    RetryStrategy,
    StepContext,
    StepError,
    WaitDecision,
    durable_execution,
)
from aiodurable.otel import OpenTelemetryPlugin

#: The functions a chained invoke calls (registered beside the requirement's handler).
TARGET_ECHO = "otel-target-echo"
TARGET_FAIL = "otel-target-fail"
TARGET_LONG_WAIT = "otel-target-long-wait"

Handlers = dict[str, DurableHandler[Any, Any]]
Traced = Callable[[Callable[[Any, DurableContext], Awaitable[Any]]], DurableHandler[Any, Any]]


def _retry_once(delay: float) -> RetryStrategy:
    return RetryStrategy(max_attempts=2, initial_delay=delay, backoff_rate=1.0, jitter=Jitter.NONE)


def _fail_first_attempt() -> str:
    if StepContext.current().attempt == 1:
        raise RuntimeError("Intentional first-attempt failure")
    return "retried"


def scenario_handlers(plugin: OpenTelemetryPlugin) -> Handlers:
    """The scenario handlers and the invoke targets, every one traced by ``plugin``."""
    traced: Traced = durable_execution(plugins=[plugin])

    @traced
    async def success(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(lambda: "success", name="otel-success")

    @traced
    async def wait_resume(event: Any, ctx: DurableContext) -> str:
        await ctx.wait(1, name="otel-wait")
        return await ctx.step(lambda: "resumed", name="otel-after-resume")

    @traced
    async def retry(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(_fail_first_attempt, name="otel-retry", retry=_retry_once(1))

    @traced
    async def terminal_failure(event: Any, ctx: DurableContext) -> None:
        def fail() -> None:
            raise RuntimeError("Intentional terminal failure")

        await ctx.step(fail, name="otel-terminal-failure", retry=RetryStrategy.no_retry())

    @traced
    async def child_context(event: Any, ctx: DurableContext) -> str:
        async def child(child_ctx: DurableContext) -> str:
            return await child_ctx.step(lambda: "child-complete", name="otel-child-step")

        return await ctx.run_in_child_context(child, name="otel-child-context")

    @traced
    async def virtual_context(event: Any, ctx: DurableContext) -> str:
        async def group(child_ctx: DurableContext) -> str:
            return "virtual-complete"

        return await ctx.run_in_child_context(group, name="otel-virtual-context", virtual=True)

    @traced
    async def parallel_hierarchy(event: Any, ctx: DurableContext) -> list[Any]:
        def branch(label: str) -> NamedBranch[str]:
            async def run(branch_ctx: DurableContext) -> str:
                return await branch_ctx.step(lambda: label, name=f"otel-parallel-step-{label}")

            return NamedBranch(f"otel-parallel-branch-{label}", run)

        result = await ctx.parallel(
            [branch("a"), branch("b")], name="otel-parallel", max_concurrency=1
        )
        return result.get_results()

    @traced
    async def map_hierarchy(event: Any, ctx: DurableContext) -> list[Any]:
        async def double(item_ctx: DurableContext, item: int, index: int) -> int:
            return await item_ctx.step(lambda: item * 2, name=f"otel-map-step-{index}")

        result = await ctx.map(
            [1, 2],
            double,
            name="otel-map",
            max_concurrency=1,
            item_namer=lambda _item, index: f"otel-map-iteration-{index}",
        )
        return result.get_results()

    @traced
    async def handled_failure(event: Any, ctx: DurableContext) -> str:
        def fail() -> None:
            raise RuntimeError("Intentional handled failure")

        with contextlib.suppress(StepError):
            await ctx.step(fail, name="otel-handled-failure", retry=RetryStrategy.no_retry())
        return await ctx.step(lambda: "recovered", name="otel-recovery-step")

    def stop_at_two(state: int, attempt: int) -> WaitDecision:
        return WaitDecision(should_continue=state < 2, delay_seconds=1)

    @traced
    async def wait_for_condition(event: Any, ctx: DurableContext) -> int:
        return await ctx.wait_for_condition(
            lambda state: state + 1,
            initial_state=0,
            wait_strategy=stop_at_two,
            name="otel-condition",
        )

    @traced
    async def wait_for_condition_failure(event: Any, ctx: DurableContext) -> None:
        def check(state: int) -> int:
            raise RuntimeError("Intentional condition check failure")

        await ctx.wait_for_condition(
            check,
            initial_state=0,
            wait_strategy=lambda state, attempt: WaitDecision(True, 1),
            name="otel-failed-condition",
        )

    @traced
    async def wait_for_callback(event: Any, ctx: DurableContext) -> str:
        return await ctx.wait_for_callback(lambda callback_id: None, name="otel-callback")

    @traced
    async def wait_for_callback_failure(event: Any, ctx: DurableContext) -> str:
        return await ctx.wait_for_callback(lambda callback_id: None, name="otel-failed-callback")

    @traced
    async def chained_invoke(event: Any, ctx: DurableContext) -> Any:
        return await ctx.invoke(TARGET_ECHO, event, name="otel-invoke")

    @traced
    async def chained_invoke_failure(event: Any, ctx: DurableContext) -> Any:
        return await ctx.invoke(TARGET_FAIL, event, name="otel-failed-invoke")

    @traced
    async def wait_interrupted(event: Any, ctx: DurableContext) -> None:
        await ctx.wait(30, name="otel-interrupted-wait")

    @traced
    async def execution_failure(event: Any, ctx: DurableContext) -> None:
        raise RuntimeError("Intentional execution failure")

    # -- the long-running suite: the same shapes with a delay of the requirement's choosing
    @traced
    async def long_wait(event: Any, ctx: DurableContext) -> str:
        await ctx.wait(event["delay_seconds"], name="otel-long-wait")
        return await ctx.step(lambda: "resumed", name="otel-after-long-wait")

    @traced
    async def long_retry(event: Any, ctx: DurableContext) -> str:
        strategy = _retry_once(event["delay_seconds"])
        return await ctx.step(_fail_first_attempt, name="otel-long-retry", retry=strategy)

    @traced
    async def long_callback(event: Any, ctx: DurableContext) -> str:
        return await ctx.wait_for_callback(lambda callback_id: None, name="otel-long-callback")

    @traced
    async def long_chained_invoke(event: Any, ctx: DurableContext) -> Any:
        return await ctx.invoke(TARGET_LONG_WAIT, event, name="otel-long-invoke")

    # -- invoke targets
    @traced
    async def echo(event: Any, ctx: DurableContext) -> Any:
        return event

    @traced
    async def fail_target(event: Any, ctx: DurableContext) -> None:
        raise RuntimeError("Intentional chained-invoke target failure")

    @traced
    async def long_wait_target(event: Any, ctx: DurableContext) -> Any:
        await ctx.wait(event["delay_seconds"], name="otel-long-invoke-target-wait")
        return event

    return {
        "success": success,
        "wait-resume": wait_resume,
        "retry": retry,
        "terminal-failure": terminal_failure,
        "child-context": child_context,
        "virtual-context": virtual_context,
        "parallel-hierarchy": parallel_hierarchy,
        "map-hierarchy": map_hierarchy,
        "handled-failure": handled_failure,
        "wait-for-condition": wait_for_condition,
        "wait-for-callback": wait_for_callback,
        "chained-invoke": chained_invoke,
        "child-context-failure": child_context_failure(traced),
        "parallel-failure": parallel_failure(traced),
        "map-failure": map_failure(traced),
        "wait-interrupted": wait_interrupted,
        "wait-for-condition-failure": wait_for_condition_failure,
        "wait-for-callback-failure": wait_for_callback_failure,
        "chained-invoke-failure": chained_invoke_failure,
        "execution-failure": execution_failure,
        "long-wait": long_wait,
        "long-retry": long_retry,
        "long-callback": long_callback,
        "long-chained-invoke": long_chained_invoke,
        TARGET_ECHO: echo,
        TARGET_FAIL: fail_target,
        TARGET_LONG_WAIT: long_wait_target,
    }


def child_context_failure(traced: Traced) -> DurableHandler[Any, Any]:
    @traced
    async def handler(event: Any, ctx: DurableContext) -> None:
        async def fail(child_ctx: DurableContext) -> None:
            raise RuntimeError("Intentional child-context failure")

        await ctx.run_in_child_context(fail, name="otel-failed-child-context")

    return handler


def parallel_failure(traced: Traced) -> DurableHandler[Any, Any]:
    @traced
    async def handler(event: Any, ctx: DurableContext) -> None:
        async def fail(branch_ctx: DurableContext) -> None:
            raise RuntimeError("Intentional parallel branch failure")

        result = await ctx.parallel(
            [NamedBranch("otel-failed-parallel-branch", fail)],
            name="otel-failed-parallel",
            max_concurrency=1,
        )
        result.throw_if_error()

    return handler


def map_failure(traced: Traced) -> DurableHandler[Any, Any]:
    @traced
    async def handler(event: Any, ctx: DurableContext) -> None:
        async def fail(item_ctx: DurableContext, item: int, index: int) -> None:
            raise RuntimeError("Intentional map iteration failure")

        result = await ctx.map(
            [1],
            fail,
            name="otel-failed-map",
            max_concurrency=1,
            item_namer=lambda _item, index: f"otel-failed-map-iteration-{index}",
        )
        result.throw_if_error()

    return handler
