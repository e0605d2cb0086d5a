"""Suite 10: instrumentation plugins.

Each plugin writes one JSON record per hook, ``{"plugin": <name>, "hook": <hook>, ...}``,
stamped with the ``durableExecutionArn`` its invocation-start hook received, so that the
execution's log lines include it. Operation hooks keep to ``STEP`` operations, as the
requirements ask; the "attempt" records come from the user-function hooks of ``STEP``
operations (step attempts; wait-for-condition checks are ``STEP`` operations too).
"""

from __future__ import annotations

from typing import Any

from aiodurable import (
    DurableContext,
    Jitter,
    Plugin,
    RetryStrategy,
    StepContext,
    durable_execution,
)
from aiodurable.plugins import (
    InvocationEndInfo,
    InvocationStartInfo,
    OperationEndInfo,
    OperationStartInfo,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)

from ..execution_logs import EXECUTION_LOGS, LOGS
from .step import greet


class RecordingPlugin(Plugin):
    """Writes the records of one named plugin; subclasses choose the hooks."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.execution_arn: str | None = None

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self.execution_arn = info.execution_arn

    def record(self, hook: str, **fields: Any) -> None:
        EXECUTION_LOGS.write_record(
            {"plugin": self.name, "hook": hook, **fields, "durableExecutionArn": self.execution_arn}
        )


class InvocationHooks(RecordingPlugin):
    """invocation-start (with the first-invocation flag unless ``first=False``) and -end."""

    def __init__(self, name: str = "CONFPLUGIN", *, first: bool = True) -> None:
        super().__init__(name)
        self.first = first

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        super().on_invocation_start(info)
        flag = {"first": info.is_first_invocation} if self.first else {}
        self.record("invocation-start", **flag)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.record("invocation-end", status=info.status)


class OperationHooks(RecordingPlugin):
    """operation-start and operation-end of every step, with its id and terminal status."""

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if info.operation_type == "STEP":
            self.record("operation-start", op=info.operation_id)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.operation_type == "STEP":
            self.record("operation-end", op=info.operation_id, status=info.status)


class AttemptHooks(RecordingPlugin):
    """attempt-start and attempt-end of every step attempt, numbered, with its outcome."""

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if info.operation_type == "STEP":
            self.record("attempt-start", n=info.attempt, op=info.operation_id)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        if info.operation_type == "STEP":
            self.record("attempt-end", n=info.attempt, outcome=info.outcome, op=info.operation_id)


class PluginFault(Exception):
    """What the faulty plugin raises from every hook."""


class FaultyPlugin(RecordingPlugin):
    """Records each hook, then raises from it."""

    def fail(self, hook: str) -> None:
        self.record(hook)
        raise PluginFault(f"{self.name} failed in {hook}")

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        super().on_invocation_start(info)
        self.fail("invocation-start")

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.fail("invocation-end")

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if info.operation_type == "STEP":
            self.fail("operation-start")

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.operation_type == "STEP":
            self.fail("operation-end")

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if info.operation_type == "STEP":
            self.fail("attempt-start")

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        if info.operation_type == "STEP":
            self.fail("attempt-end")


@durable_execution(logging=LOGS, plugins=[InvocationHooks()])
async def req_10_1(event: str, ctx: DurableContext) -> str:
    def greet_logged(name: str) -> str:
        StepContext.current().logger.info(f"Greeting step running for: {name}")
        return greet(name)

    return await ctx.step(greet_logged, event)


@durable_execution(logging=LOGS, plugins=[OperationHooks("CONFPLUGIN")])
async def req_10_2(event: str, ctx: DurableContext) -> str:
    return await ctx.step(greet, event)


@durable_execution(logging=LOGS, plugins=[AttemptHooks("CONFPLUGIN")])
async def req_10_3(event: None, ctx: DurableContext) -> str:
    def unreliable_func() -> str:
        if StepContext.current().attempt == 1:
            raise RuntimeError("first attempt fails")
        return "Operation succeeded"

    retry = RetryStrategy(max_attempts=2, initial_delay=1, jitter=Jitter.NONE)
    return await ctx.step(unreliable_func, retry=retry)


@durable_execution(logging=LOGS, plugins=[FaultyPlugin("CONFPLUGIN-FAULTY")])
async def req_10_4(event: str, ctx: DurableContext) -> str:
    return await ctx.step(greet, event)


@durable_execution(
    logging=LOGS,
    plugins=[
        InvocationHooks("CONFPLUGIN-A", first=False),
        InvocationHooks("CONFPLUGIN-B", first=False),
    ],
)
async def req_10_5(event: str, ctx: DurableContext) -> str:
    return await ctx.step(greet, event)


@durable_execution(logging=LOGS, plugins=[InvocationHooks()])
async def req_10_6(event: None, ctx: DurableContext) -> None:
    await ctx.wait(2)


@durable_execution(logging=LOGS, plugins=[InvocationHooks()])
async def req_10_7(event: None, ctx: DurableContext) -> str:
    def failing_func() -> str:
        raise RuntimeError("always fails")

    return await ctx.step(failing_func, retry=RetryStrategy.no_retry())
