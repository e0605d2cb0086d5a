"""Instrumentation plugins: which hooks fire, when, with what, and that failures are contained."""

from __future__ import annotations

from typing import Any

from aiodurable import DurableContext, Plugin, RetryStrategy, durable_execution
from aiodurable.plugins import (
    InvocationEndInfo,
    InvocationStartInfo,
    OperationChangeInfo,
    OperationEndInfo,
    OperationStartInfo,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)

from .service_harness import ServiceHarness, drive


class Recorder(Plugin):
    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []
        self.infos: list[object] = []

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self.infos.append(info)
        self.records.append(("invocation-start", info.is_first_invocation))

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.infos.append(info)
        self.records.append(("invocation-end", info.status))

    def on_operation_start(self, info: OperationStartInfo) -> None:
        self.infos.append(info)
        self.records.append(("operation-start", info.operation_type, info.is_replayed))

    def on_operation_end(self, info: OperationEndInfo) -> None:
        self.infos.append(info)
        self.records.append(("operation-end", info.operation_type, info.status))

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        self.infos.append(info)
        self.records.append(("fn-start", info.operation_type, info.attempt))

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        self.infos.append(info)
        self.records.append(("fn-end", info.operation_type, info.attempt, info.outcome))


class Unreliable:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:  # sync: hooks run in the worker thread with it
        self.calls += 1
        if self.calls == 1:
            raise ValueError("first attempt fails")
        return "Operation succeeded"


async def test_hooks_fire_once_per_event_across_invocations() -> None:
    recorder = Recorder()
    unreliable = Unreliable()

    @durable_execution(plugins=[recorder])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(unreliable, retry=RetryStrategy(max_attempts=2, initial_delay=1))

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)
    assert outputs[-1]["Status"] == "SUCCEEDED"
    assert recorder.records == [
        ("invocation-start", True),
        ("operation-start", "STEP", False),
        ("fn-start", "STEP", 1),
        ("fn-end", "STEP", 1, "FAILED"),
        ("invocation-end", "PENDING"),
        ("invocation-start", False),
        # the retry's new START of an operation recorded before
        ("operation-start", "STEP", True),
        ("fn-start", "STEP", 2),
        ("fn-end", "STEP", 2, "SUCCEEDED"),
        ("operation-end", "STEP", "SUCCEEDED"),
        ("invocation-end", "SUCCEEDED"),
    ]


class Faulty(Plugin):
    def __init__(self) -> None:
        self.calls = 0

    def fail(self) -> None:
        self.calls += 1
        raise RuntimeError("exploded")

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self.fail()

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.fail()

    def on_operation_start(self, info: OperationStartInfo) -> None:
        self.fail()

    def on_operation_end(self, info: OperationEndInfo) -> None:
        self.fail()

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        self.fail()

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        self.fail()

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        self.fail()


async def test_a_failing_plugin_changes_nothing_and_the_next_plugin_still_hears_everything() -> (
    None
):
    faulty, healthy = Faulty(), Recorder()

    async def greet(name: str) -> str:
        return f"Hello, {name}!"

    @durable_execution(plugins=[faulty, healthy])
    async def workflow(event: str, ctx: DurableContext) -> str:
        return await ctx.step(greet, event)

    service = ServiceHarness()
    arn = service.start('"World"')
    output = await workflow.run(service.event(arn), client=service)
    assert output == {"Status": "SUCCEEDED", "Result": '"Hello, World!"'}
    assert faulty.calls == 7  # every hook ran once and raised
    assert [r[0] for r in healthy.records] == [
        "invocation-start",
        "operation-start",
        "fn-start",
        "fn-end",
        "operation-end",
        "invocation-end",
    ]
