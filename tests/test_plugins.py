"""Instrumentation plugins: which hooks fire, when, and that failures are contained."""

from __future__ import annotations

from typing import Any

from aiodurable import DurableContext, Plugin, RetryStrategy, durable_execution
from aiodurable.plugins import (
    AttemptEndInfo,
    AttemptInfo,
    InvocationEndInfo,
    InvocationStartInfo,
    OperationEndInfo,
    OperationInfo,
)

from .service_harness import ServiceHarness, drive


class Recorder(Plugin):
    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self.records.append(("invocation-start", info.is_first_invocation))

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.records.append(("invocation-end", info.status))

    def on_operation_start(self, info: OperationInfo) -> None:
        self.records.append(("operation-start", info.type))

    def on_operation_end(self, info: OperationEndInfo) -> None:
        self.records.append(("operation-end", info.type, info.status))

    def on_attempt_start(self, info: AttemptInfo) -> None:
        self.records.append(("attempt-start", info.attempt))

    def on_attempt_end(self, info: AttemptEndInfo) -> None:
        self.records.append(("attempt-end", info.attempt, info.outcome))


class Faulty(Plugin):
    def __init__(self) -> None:
        self.calls = 0

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):

            def hook(info: object) -> None:
                object.__setattr__(self, "calls", object.__getattribute__(self, "calls") + 1)
                raise RuntimeError(f"{name} exploded")

            return hook
        return object.__getattribute__(self, name)


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
        ("attempt-start", 1),
        ("attempt-end", 1, "FAILED"),
        ("operation-start", "STEP"),
        ("invocation-end", "PENDING"),
        ("invocation-start", False),
        ("attempt-start", 2),
        ("attempt-end", 2, "SUCCEEDED"),
        ("operation-end", "STEP", "SUCCEEDED"),
        ("invocation-end", "SUCCEEDED"),
    ]


async def test_a_failing_plugin_changes_nothing() -> None:
    faulty = Faulty()

    async def greet(name: str) -> str:
        return f"Hello, {name}!"

    @durable_execution(plugins=[faulty])
    async def workflow(event: str, ctx: DurableContext) -> str:
        return await ctx.step(greet, event)

    service = ServiceHarness()
    arn = service.start('"World"')
    output = await workflow.run(service.event(arn), client=service)
    assert output == {"Status": "SUCCEEDED", "Result": '"Hello, World!"'}
    assert faulty.calls == 6  # every hook ran once and raised
