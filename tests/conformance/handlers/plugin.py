"""Suite 10: instrumentation plugins.

Each plugin writes one JSON record per hook, ``{"plugin": <name>, "hook": <hook>, ...}``,
stamped with the ``durableExecutionArn`` its invocation-start hook received, so that the
execution's log lines include it. Operation hooks keep to ``STEP`` operations, as the
requirements ask; the "attempt" records come from the user-function hooks of ``STEP``
operations (step attempts; wait-for-condition checks are ``STEP`` operations too).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiodurable import (
    DurableContext,
    Jitter,
    NamedBranch,
    Plugin,
    RetryStrategy,
    StepContext,
    durable_execution,
)
from aiodurable.plugins import (
    InvocationEndInfo,
    InvocationInfo,
    InvocationStartInfo,
    OperationChangeInfo,
    OperationEndInfo,
    OperationInfo,
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


# -- 10-8 … 10-23: the full contract -----------------------------------------------------

RETRY_ONCE = RetryStrategy(max_attempts=2, initial_delay=1, jitter=Jitter.NONE)


def _parent(info: OperationInfo) -> str:
    return info.parent_id or "NONE"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def dump_operation(info: OperationInfo) -> dict[str, Any]:
    """The canonical camelCase dump of an operation-level info (unset fields omitted)."""
    fields: dict[str, Any] = {
        "id": info.operation_id,
        "name": info.name,
        "type": info.operation_type.upper(),
        "subType": info.sub_type,
        "parentId": info.parent_id,
        "status": info.status,
        "startTimestamp": _iso(info.start_time),
        "endTimestamp": _iso(info.end_time),
        "result": info.result,
        "error": info.error.error_message if info.error is not None else None,
        "attempt": info.attempt,
        "isReplay": info.is_replayed,
    }
    if isinstance(info, UserFunctionStartInfo | UserFunctionEndInfo):
        fields["isReplayingChildren"] = info.is_replay_children
    if isinstance(info, UserFunctionEndInfo):
        fields["outcome"] = info.outcome
    return {key: value for key, value in fields.items() if value is not None}


def dump_invocation(info: InvocationInfo) -> dict[str, Any]:
    """The canonical camelCase dump of an invocation info (maps as counts)."""
    fields: dict[str, Any] = {
        "isFirstInvocation": info.is_first_invocation,
        "requestId": info.request_id,
        "operationsCount": len(info.operations),
        "updatedOperationsCount": len(info.updated_operations),
        "executionStartTimestamp": _iso(info.execution_start_time),
    }
    if isinstance(info, InvocationEndInfo):
        fields["status"] = info.status
        fields["terminal"] = info.status in ("SUCCEEDED", "FAILED")
        if info.error is not None:
            fields["executionError"] = info.error.error_message
    return {key: value for key, value in fields.items() if value is not None}


class OperationChangeHooks(RecordingPlugin):
    """10-8: each step in a change's delta, and whether the full map holds it too."""

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        for op_id, op in info.updated_operations.items():
            if op.operation_type == "STEP":
                in_map = op_id in info.operations
                self.record("operation-change", op=op_id, status=op.status, in_full_map=in_map)


class UpdatedOnInvoke(RecordingPlugin):
    """10-9: the waits the service completed while the function was suspended."""

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        super().on_invocation_start(info)
        for op_id, op in info.updated_operations.items():
            if op.operation_type == "WAIT":
                first = info.is_first_invocation
                self.record("updated-on-invoke", op=op_id, status=op.status, first=first)


class WaitHooks(RecordingPlugin):
    """10-10: operation-start and -end of waits, with their type token."""

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if info.operation_type == "WAIT":
            self.record("operation-start", op=info.operation_id, type=info.operation_type)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.operation_type == "WAIT":
            self.record(
                "operation-end", op=info.operation_id, type=info.operation_type, status=info.status
            )


class ParentHooks(RecordingPlugin):
    """10-11: every operation's end, with its parent."""

    def on_operation_end(self, info: OperationEndInfo) -> None:
        self.record("operation-end", op=info.operation_id, parent=_parent(info), status=info.status)


class BranchFunctionHooks(RecordingPlugin):
    """10-12: the user functions of parallel branches."""

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if info.sub_type == "ParallelBranch":
            self.record("fn-start", op=info.operation_id, parent=_parent(info))

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        if info.sub_type == "ParallelBranch":
            self.record("fn-end", op=info.operation_id, parent=_parent(info), outcome=info.outcome)


class ReplayFlagHooks(RecordingPlugin):
    """10-13: operation-start with its replay flag, operation-end with its status (steps)."""

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if info.operation_type == "STEP":
            self.record("operation-start", op=info.operation_id, replay=info.is_replayed)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.operation_type == "STEP":
            self.record("operation-end", op=info.operation_id, status=info.status)


class PayloadHooks(RecordingPlugin):
    """10-14: a step's end with its recorded result and error message."""

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.operation_type == "STEP":
            self.record(
                "operation-end",
                op=info.operation_id,
                status=info.status,
                result=info.result if info.result is not None else "NONE",
                error=info.error.error_message if info.error is not None else "NONE",
            )


class AttemptAndEndHooks(AttemptHooks):
    """10-15: step attempts and the step's terminal end."""

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.operation_type == "STEP":
            self.record("operation-end", op=info.operation_id, status=info.status)


class InvocationEndHooks(RecordingPlugin):
    """10-16: invocation-end with its own first-invocation flag and terminality."""

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        super().on_invocation_start(info)
        self.record("invocation-start", first=info.is_first_invocation)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        terminal = info.status in ("SUCCEEDED", "FAILED")
        first = info.is_first_invocation
        self.record("invocation-end", first=first, terminal=terminal, status=info.status)


class HealthyHooks(RecordingPlugin):
    """10-17: the healthy plugin next to a faulty one."""

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        super().on_invocation_start(info)
        self.record("invocation-start", first=info.is_first_invocation)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.record("invocation-end", status=info.status)

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if info.operation_type == "STEP":
            self.record("operation-start", op=info.operation_id)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.operation_type == "STEP":
            self.record("operation-end", op=info.operation_id, status=info.status)

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if info.operation_type == "STEP":
            self.record("attempt-start", op=info.operation_id)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        if info.operation_type == "STEP":
            self.record("attempt-end", op=info.operation_id, outcome=info.outcome)


class PendingWaitHooks(RecordingPlugin):
    """10-18: waits by name, with the replay flag and whether they are still pending."""

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if info.operation_type == "WAIT":
            self.record(
                "operation-start",
                type=info.operation_type,
                name=info.name,
                replay=info.is_replayed,
                pending=info.end_time is None,
            )

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.operation_type == "WAIT":
            self.record(
                "operation-end", type=info.operation_type, name=info.name, status=info.status
            )


class InvocationDump(RecordingPlugin):
    """10-19: the canonical dump of both invocation infos."""

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        super().on_invocation_start(info)
        self.record("invocation-start", **dump_invocation(info))

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.record("invocation-end", **dump_invocation(info))


class OperationDump(RecordingPlugin):
    """10-20 (steps) and 10-23 (contexts): the canonical dump of operation and
    user-function infos of one operation type."""

    def __init__(self, operation_type: str) -> None:
        super().__init__("CONFPLUGIN")
        self.operation_type = operation_type

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if info.operation_type == self.operation_type:
            self.record("operation-start", **dump_operation(info))

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if info.operation_type == self.operation_type:
            self.record("operation-end", **dump_operation(info))

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if info.operation_type == self.operation_type:
            self.record("fn-start", **dump_operation(info))


class AttemptDump(RecordingPlugin):
    """10-21: the canonical dump of step attempt infos."""

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if info.operation_type == "STEP":
            self.record("attempt-start", **dump_operation(info))

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        if info.operation_type == "STEP":
            self.record("attempt-end", **dump_operation(info))


class ChangeDump(RecordingPlugin):
    """10-22: the canonical dump of each step in an operation-change delta."""

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        for op_id, op in info.updated_operations.items():
            if op.operation_type == "STEP":
                self.record(
                    "operation-change",
                    executionArn=info.execution_arn,
                    updatedOperationsCount=len(info.updated_operations),
                    operationsCount=len(info.operations),
                    inFullMap=op_id in info.operations,
                    **dump_operation(op),
                )


@durable_execution(logging=LOGS, plugins=[OperationChangeHooks("CONFPLUGIN")])
async def req_10_8(event: str, ctx: DurableContext) -> str:
    return await ctx.step(greet, event)


@durable_execution(logging=LOGS, plugins=[UpdatedOnInvoke("CONFPLUGIN")])
async def req_10_9(event: None, ctx: DurableContext) -> None:
    await ctx.wait(2)


@durable_execution(logging=LOGS, plugins=[WaitHooks("CONFPLUGIN")])
async def req_10_10(event: None, ctx: DurableContext) -> None:
    await ctx.wait(2)


@durable_execution(logging=LOGS, plugins=[ParentHooks("CONFPLUGIN")])
async def req_10_11(event: str, ctx: DurableContext) -> str:
    async def child(child_ctx: DurableContext) -> str:
        return await child_ctx.step(greet, event)

    return await ctx.run_in_child_context(child)


@durable_execution(logging=LOGS, plugins=[BranchFunctionHooks("CONFPLUGIN")])
async def req_10_12(event: None, ctx: DurableContext) -> list[Any]:
    async def task_1(branch: DurableContext) -> str:
        return "task-1"

    async def task_2(branch: DurableContext) -> str:
        return "task-2"

    result = await ctx.parallel([task_1, task_2], name="parallel", max_concurrency=1)
    return result.get_results()


class FailsOnce:
    """A step function whose first attempt raises."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __call__(self) -> str:
        if StepContext.current().attempt == 1:
            raise RuntimeError("first attempt fails")
        return self.value


@durable_execution(logging=LOGS, plugins=[ReplayFlagHooks("CONFPLUGIN")])
async def req_10_13(event: None, ctx: DurableContext) -> str:
    await ctx.step(lambda: "task-a", name="step-a")
    return await ctx.step(FailsOnce("Operation succeeded"), name="step-b", retry=RETRY_ONCE)


@durable_execution(logging=LOGS, plugins=[PayloadHooks("CONFPLUGIN")])
async def req_10_14(event: None, ctx: DurableContext) -> str:
    def boom() -> str:
        raise RuntimeError("boom")

    await ctx.step(lambda: "task-a", name="step-a")
    return await ctx.step(boom, name="step-b", retry=RetryStrategy.no_retry())


@durable_execution(logging=LOGS, plugins=[AttemptAndEndHooks("CONFPLUGIN")])
async def req_10_15(event: None, ctx: DurableContext) -> str:
    def always_fail() -> str:
        raise RuntimeError("always fails")

    return await ctx.step(always_fail, retry=RETRY_ONCE)


@durable_execution(logging=LOGS, plugins=[InvocationEndHooks("CONFPLUGIN")])
async def req_10_16(event: None, ctx: DurableContext) -> None:
    await ctx.wait(2)


@durable_execution(
    logging=LOGS,
    plugins=[FaultyPlugin("CONFPLUGIN-FAULTY"), HealthyHooks("CONFPLUGIN-HEALTHY")],
)
async def req_10_17(event: str, ctx: DurableContext) -> str:
    return await ctx.step(greet, event)


@durable_execution(logging=LOGS, plugins=[PendingWaitHooks("CONFPLUGIN")])
async def req_10_18(event: None, ctx: DurableContext) -> list[Any]:
    async def short(branch: DurableContext) -> str:
        await branch.wait(2, name="short")
        return "short-done"

    async def long(branch: DurableContext) -> str:
        await branch.wait(8, name="long")
        return "long-done"

    result = await ctx.parallel([short, long], name="waits", max_concurrency=2)
    return result.get_results()


@durable_execution(logging=LOGS, plugins=[InvocationDump("CONFPLUGIN")])
async def req_10_19(event: str, ctx: DurableContext) -> str:
    await ctx.wait(2)
    return f"done-{event}"


@durable_execution(logging=LOGS, plugins=[OperationDump("STEP")])
async def req_10_20(event: None, ctx: DurableContext) -> str:
    return await ctx.step(lambda: "task-a", name="greet")


@durable_execution(logging=LOGS, plugins=[AttemptDump("CONFPLUGIN")])
async def req_10_21(event: None, ctx: DurableContext) -> str:
    return await ctx.step(FailsOnce("ok"), name="flaky", retry=RETRY_ONCE)


@durable_execution(logging=LOGS, plugins=[ChangeDump("CONFPLUGIN")])
async def req_10_22(event: None, ctx: DurableContext) -> str:
    return await ctx.step(lambda: "task-a", name="greet")


@durable_execution(logging=LOGS, plugins=[OperationDump("CONTEXT")])
async def req_10_23(event: None, ctx: DurableContext) -> list[Any]:
    async def branch_a(branch: DurableContext) -> str:
        await branch.step(lambda: "x", name="inner")
        await branch.wait(2)
        return "a-done"

    async def branch_b(branch: DurableContext) -> str:
        return "b-done"

    branches = [NamedBranch("branch-a", branch_a), NamedBranch("branch-b", branch_b)]
    result = await ctx.parallel(branches, name="ctx", max_concurrency=1)
    return result.get_results()
