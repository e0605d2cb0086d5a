"""``ctx.run_in_child_context(..., virtual=True)``: a naming scope that leaves no record of
its own, whose operations replay from their own checkpoints."""

from __future__ import annotations

from typing import Any

import pytest

from aiodurable import (
    ChildContextError,
    DurableContext,
    JsonSerdes,
    NonDeterministicError,
    RetryStrategy,
    ValidationError,
    durable_execution,
)
from aiodurable.plugins import OperationEndInfo
from aiodurable.runtime.operation_ids import step_id
from aiodurable.wire import OperationAction, OperationType

from .service_harness import ServiceHarness, drive
from .test_plugins import Recorder


async def test_a_virtual_context_records_only_its_operations_and_reruns_on_replay() -> None:
    runs: list[str] = []
    steps: list[str] = []

    def fetch(label: str) -> Any:
        def run() -> str:
            steps.append(label)
            return label

        return run

    def group(label: str) -> Any:
        async def body(child: DurableContext) -> str:
            runs.append(label)
            return await child.step(fetch(label), name="fetch")  # one name in both groups

        return body

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> list[str]:
        first = await ctx.run_in_child_context(group("a"), name="group", virtual=True)
        second = await ctx.run_in_child_context(group("b"), name="group", virtual=True)
        await ctx.wait(5, name="pause")
        return [first, second]

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)

    assert outputs[-1] == {"Status": "SUCCEEDED", "Result": '["a","b"]'}
    assert runs == ["a", "b", "a", "b"]  # the groups run again on replay ...
    assert steps == ["a", "b"]  # ... and their steps replay from their checkpoints
    ops = service.operations(arn)
    assert not [op for op in ops if op.type is OperationType.CONTEXT]
    by_name = {(op.name, op.id): op for op in ops}
    # A group takes its place in the numbering; its steps are numbered under its id.
    group_a, group_b = step_id(None, 1), step_id(None, 2)
    assert ("fetch", step_id(group_a, 1)) in by_name
    assert ("fetch", step_id(group_b, 1)) in by_name
    assert ("pause", step_id(None, 3)) in by_name
    assert all(op.parent_id is None for op in ops if op.type is not OperationType.EXECUTION)


async def test_operations_in_a_virtual_context_name_the_enclosing_recorded_context() -> None:
    async def inner(group: DurableContext) -> str:
        return await group.step(lambda: "x", name="inside")

    async def outer(child: DurableContext) -> str:
        return await child.run_in_child_context(inner, name="group", virtual=True)

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.run_in_child_context(outer, name="outer")

    service = ServiceHarness()
    arn = service.start()
    await drive(workflow, service, arn)

    ops = service.operations(arn)
    (context,) = [op for op in ops if op.type is OperationType.CONTEXT]
    (step,) = [op for op in ops if op.type is OperationType.STEP]
    assert context.name == "outer"
    assert step.parent_id == context.id
    assert step.id == step_id(step_id(context.id, 1), 1)


async def test_a_failing_virtual_context_raises_child_context_error_and_records_no_fail() -> None:
    def fail() -> None:
        raise ValueError("boom")

    async def body(child: DurableContext) -> None:
        await child.step(fail, name="fails", retry=RetryStrategy.no_retry())

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.run_in_child_context(body, name="group", virtual=True)
        except ChildContextError as error:
            return error.error_type or ""
        return "no error"

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)

    assert outputs[-1]["Result"] == '"aiodurable.errors.StepError"'
    updates = [u for call in service.calls for u in call.updates]
    assert {u.type for u in updates} == {OperationType.STEP}
    assert {u.action for u in updates} == {OperationAction.START, OperationAction.FAIL}


async def test_plugins_hear_a_virtual_context_as_a_function_and_an_end() -> None:
    recorder = Recorder()

    async def body(child: DurableContext) -> str:
        return "done"

    @durable_execution(plugins=[recorder])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.run_in_child_context(body, name="group", virtual=True)

    service = ServiceHarness()
    await drive(workflow, service, service.start())

    assert recorder.records == [
        ("invocation-start", True),
        ("fn-start", "CONTEXT", None),
        ("fn-end", "CONTEXT", None, "SUCCEEDED"),
        ("operation-end", "CONTEXT", "SUCCEEDED"),
        ("invocation-end", "SUCCEEDED"),
    ]
    (end,) = [i for i in recorder.infos if isinstance(i, OperationEndInfo)]
    assert (end.name, end.sub_type, end.parent_id) == ("group", "RunInChildContext", None)


@pytest.mark.parametrize("first", [False, True], ids=["recorded, then virtual", "the reverse"])
async def test_switching_between_recorded_and_virtual_is_non_deterministic(first: bool) -> None:
    virtual = [first]

    async def body(child: DurableContext) -> None:
        await child.wait(5, name="inside")

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        await ctx.run_in_child_context(body, name="group", virtual=virtual[0])

    service = ServiceHarness()
    arn = service.start()
    assert (await workflow.run(service.event(arn), client=service))["Status"] == "PENDING"
    virtual[0] = not first
    service.advance(5)
    output = await workflow.run(service.event(arn), client=service)

    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == f"aiodurable.errors.{NonDeterministicError.__name__}"
    # A recorded context met where none was, or an operation under another parent.
    assert any(clue in output["Error"]["ErrorMessage"] for clue in ("must stay virtual", "parent"))


async def test_a_virtual_context_refuses_a_serdes_it_would_never_use() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        await ctx.run_in_child_context(
            lambda child: child.step(lambda: 1), virtual=True, serdes=JsonSerdes(int)
        )

    service = ServiceHarness()
    output = await workflow.run(service.event(service.start()), client=service)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == f"aiodurable.errors.{ValidationError.__name__}"
    assert "stores no result" in output["Error"]["ErrorMessage"]


async def test_a_virtual_context_run_again_on_replay_reports_a_replayed_end() -> None:
    recorder = Recorder()

    async def body(child: DurableContext) -> str:
        return await child.step(lambda: "x", name="inside")

    @durable_execution(plugins=[recorder])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        value = await ctx.run_in_child_context(body, name="group", virtual=True)
        await ctx.wait(5, name="pause")
        return value

    service = ServiceHarness()
    outputs = await drive(workflow, service, service.start())

    assert len(outputs) == 2
    ends = [
        i
        for i in recorder.infos
        if isinstance(i, OperationEndInfo) and i.operation_type == "CONTEXT"
    ]
    assert [(e.name, e.is_replayed) for e in ends] == [("group", False), ("group", True)]
