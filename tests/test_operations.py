"""Callbacks, invoke, child contexts, wait for condition, map, parallel, logging."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
import pytest

from aiodurable import (
    BatchResult,
    CallbackFailedError,
    CallbackHeartbeatTimeoutError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    CompletionConfig,
    DurableContext,
    InvokeError,
    LoggingConfig,
    NamedBranch,
    Nesting,
    RetryStrategy,
    ValidationError,
    WaitDecision,
    WaitForConditionError,
    WaitStrategy,
    durable_execution,
)
from aiodurable.operations.batch import validate_batch
from aiodurable.wire import ErrorObject, OperationStatus, OperationType

from .service_harness import ServiceHarness, drive


def callback_ids(service: ServiceHarness, arn: str) -> list[str]:
    return [
        op.callback_details.callback_id
        for op in service.operations(arn)
        if op.callback_details and op.callback_details.callback_id
    ]


# -- callbacks ---------------------------------------------------------------------------
@durable_execution
async def approval(event: Any, ctx: DurableContext) -> str:
    callback = await ctx.create_callback(name="approve", timeout=60, heartbeat_timeout=10)
    try:
        return "approved:" + await callback.result()
    except CallbackHeartbeatTimeoutError:
        return "heartbeat"
    except CallbackTimeoutError:
        return "timeout"
    except CallbackFailedError as error:
        return f"failed:{error.message}"


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (None, None, 'approved:"yes"'),
        (OperationStatus.FAILED, ErrorObject(error_message="no"), "failed:no"),
        (OperationStatus.TIMED_OUT, ErrorObject(error_type="Callback.Timeout"), "timeout"),
        (OperationStatus.TIMED_OUT, ErrorObject(error_type="Callback.Heartbeat"), "heartbeat"),
    ],
)
async def test_callback_outcomes(
    status: OperationStatus | None, error: ErrorObject | None, expected: str
) -> None:
    service = ServiceHarness()
    arn = service.start()
    first = await approval.run(service.event(arn), client=service)
    assert first == {"Status": "PENDING"}
    (callback_id,) = callback_ids(service, arn)
    start = service.calls[0].updates[0]
    assert start.callback_options is not None
    assert (
        start.callback_options.timeout_seconds,
        start.callback_options.heartbeat_timeout_seconds,
    ) == (60, 10)
    if status is None:
        service.complete_callback(arn, callback_id, result='"yes"')
    else:
        ex = service.executions[arn]
        op = next(o for o in ex.operations.values() if o.type is OperationType.CALLBACK)
        ex.operations[op.id] = msgspec.structs.replace(
            op,
            status=status,
            callback_details=msgspec.structs.replace(op.callback_details, error=error),
        )
    final = await approval.run(service.event(arn), client=service)
    assert final["Status"] == "SUCCEEDED"
    assert json.loads(final["Result"]) == expected


async def test_wait_for_callback_returns_the_result_and_runs_the_submitter_once() -> None:
    submitted: list[str] = []

    async def submit(callback_id: str) -> None:
        submitted.append(callback_id)

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> Any:
        return await ctx.wait_for_callback(submit, name="pay", result_type=dict)

    service = ServiceHarness()
    arn = service.start()
    assert (await workflow.run(service.event(arn), client=service))["Status"] == "PENDING"
    service.complete_callback(arn, submitted[0], result='{"ok": true}')
    final = await workflow.run(service.event(arn), client=service)
    assert final == {"Status": "SUCCEEDED", "Result": '{"ok":true}'}
    assert len(submitted) == 1
    names = {op.name for op in service.operations(arn)}
    assert {"pay", "pay create callback id", "pay submitter"} <= names


async def test_wait_for_callback_submitter_failure_is_a_submitter_error() -> None:
    async def submit(callback_id: str) -> None:
        raise RuntimeError("queue down")

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.wait_for_callback(submit, retry=RetryStrategy.no_retry())
        except CallbackSubmitterError as error:
            return f"submitter:{error.message}"
        return "no"

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)
    assert outputs[-1] == {"Status": "SUCCEEDED", "Result": '"submitter:queue down"'}
    # And the same on replay of the failed context.
    again = await workflow.run(service.event(arn), client=service)
    assert again == outputs[-1]


# -- invoke ------------------------------------------------------------------------------
@durable_execution
async def invoker(event: Any, ctx: DurableContext) -> str:
    try:
        result = await ctx.invoke("billing:prod", {"amount": 5}, name="bill", tenant_id="t-1")
    except InvokeError as error:
        return f"error:{error.error_type}"
    return f"ok:{result['id']}"


@pytest.mark.parametrize(
    ("result", "error", "expected"),
    [
        ('{"id": "b-1"}', None, "ok:b-1"),
        (
            None,
            ErrorObject(error_type="BillingError", error_message="declined"),
            "error:BillingError",
        ),
    ],
)
async def test_invoke(result: str | None, error: ErrorObject | None, expected: str) -> None:
    service = ServiceHarness(invoke_targets=["billing"])
    arn = service.start()
    assert (await invoker.run(service.event(arn), client=service))["Status"] == "PENDING"
    start = service.calls[0].updates[0]
    assert start.payload == '{"amount":5}'
    assert start.chained_invoke_options is not None
    assert start.chained_invoke_options.function_name == "billing:prod"
    assert start.chained_invoke_options.tenant_id == "t-1"
    service.complete_invoke(arn, start.id, result=result, error=error)
    final = await invoker.run(service.event(arn), client=service)
    assert json.loads(final["Result"]) == expected


# -- child contexts ----------------------------------------------------------------------
async def test_child_context_result_is_replayed_without_running_the_body() -> None:
    runs: list[int] = []

    async def body(child: DurableContext) -> list[int]:
        runs.append(1)
        a = await child.step(lambda: 1, name="a")
        b = await child.step(lambda: 2, name="b")
        return [a, b]

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> list[int]:
        values = await ctx.run_in_child_context(body, name="pair")
        await ctx.wait(5)
        return values

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)
    assert outputs[-1] == {"Status": "SUCCEEDED", "Result": "[1,2]"}
    assert runs == [1]
    ops = service.operations(arn)
    context = next(op for op in ops if op.type is OperationType.CONTEXT)
    assert context.sub_type == "RunInChildContext"
    assert {op.parent_id for op in ops if op.type is OperationType.STEP} == {context.id}


async def test_child_context_failure_raises_child_context_error_with_inner_type() -> None:
    async def body(child: DurableContext) -> None:
        await child.step(_fail, retry=RetryStrategy.no_retry())

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.run_in_child_context(body)
        except ChildContextError as error:
            return error.error_type or ""
        return ""

    service = ServiceHarness()
    arn = service.start()
    output = await workflow.run(service.event(arn), client=service)
    assert json.loads(output["Result"]) == "aiodurable.errors.StepError"


async def _fail() -> None:
    raise ValueError("boom")


async def test_large_child_result_is_rebuilt_by_replaying_children() -> None:
    runs: list[int] = []

    async def body(child: DurableContext) -> str:
        runs.append(1)
        # Each step stays under the service's 262,144-byte limit; their sum does not.
        first = await child.step(lambda: "z" * 150_000, name="big-1")
        return first + await child.step(lambda: "z" * 150_000, name="big-2")

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> int:
        value = await ctx.run_in_child_context(body, name="large")
        await ctx.wait(5)
        return len(value)

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)
    assert outputs[-1] == {"Status": "SUCCEEDED", "Result": "300000"}
    assert runs == [1, 1]
    context = next(op for op in service.operations(arn) if op.type is OperationType.CONTEXT)
    assert context.context_details is not None
    assert context.context_details.replay_children is True
    assert context.context_details.result == ""


# -- wait for condition -------------------------------------------------------------------
async def test_wait_for_condition_polls_until_the_condition_holds() -> None:
    def check(state: int) -> int:
        return state + 1

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> int:
        return await ctx.wait_for_condition(
            check,
            initial_state=0,
            name="poll",
            wait_strategy=lambda state, attempt: WaitDecision(state < 3, 2),
        )

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)
    assert [o["Status"] for o in outputs] == ["PENDING", "PENDING", "SUCCEEDED"]
    assert outputs[-1]["Result"] == "3"
    actions = [u.action for c in service.calls for u in c.updates]
    assert actions == ["START", "RETRY", "START", "RETRY", "START", "SUCCEED"]


async def test_wait_for_condition_check_error_fails_without_retry() -> None:
    def check(state: int) -> int:
        raise LookupError("gone")

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.wait_for_condition(
                check, initial_state=0, wait_strategy=WaitStrategy(lambda s: True)
            )
        except WaitForConditionError as error:
            return error.error_type or ""
        return ""

    service = ServiceHarness()
    arn = service.start()
    output = await workflow.run(service.event(arn), client=service)
    assert json.loads(output["Result"]) == "LookupError"


async def test_wait_strategy_gives_up_after_max_attempts() -> None:
    strategy: WaitStrategy[int] = WaitStrategy(lambda s: True, max_attempts=2)
    assert strategy(0, 1).should_continue
    with pytest.raises(WaitForConditionError, match="after 2 attempts"):
        strategy(0, 2)


# -- map and parallel ---------------------------------------------------------------------
async def double(ctx: DurableContext, item: int, index: int) -> int:
    return await ctx.step(_double, item, name="double", retry=RetryStrategy.no_retry())


async def _double(item: int) -> int:
    if item < 0:
        raise ValueError(f"negative {item}")
    return item * 2


async def test_map_returns_results_in_index_order() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> list[int | None]:
        batch = await ctx.map([3, 1, 2], double, name="doubles", max_concurrency=2)
        return batch.get_results()

    service = ServiceHarness()
    arn = service.start()
    output = await workflow.run(service.event(arn), client=service)
    assert output == {"Status": "SUCCEEDED", "Result": "[6,2,4]"}
    ops = service.operations(arn)
    iterations = [op for op in ops if op.sub_type == "MapIteration"]
    assert sorted(op.name or "" for op in iterations) == ["map-item-0", "map-item-1", "map-item-2"]
    # Replay returns the stored BatchResult.
    again = await workflow.run(service.event(arn), client=service)
    assert again == output


async def test_map_stops_at_first_failure_by_default() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> dict[str, Any]:
        batch = await ctx.map([1, -1, 2, 3], double, max_concurrency=1)
        return {
            "reason": batch.completion_reason,
            "total": batch.total_count,
            "failed": batch.failure_count,
            "status": batch.status,
        }

    service = ServiceHarness()
    arn = service.start()
    output = await workflow.run(service.event(arn), client=service)
    assert json.loads(output["Result"]) == {
        "reason": "FAILURE_TOLERANCE_EXCEEDED",
        "total": 2,
        "failed": 1,
        "status": "FAILED",
    }


async def test_map_with_min_successful_completes_early_and_cancels_the_rest() -> None:
    async def slow_or_fast(ctx: DurableContext, item: int, index: int) -> int:
        if item == 0:
            await ctx.wait(60)  # parked: keeps its slot, then cancelled
        return await ctx.step(_double, item)

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> dict[str, Any]:
        batch = await ctx.map(
            [0, 1, 2], slow_or_fast, completion=CompletionConfig(min_successful=2)
        )
        return {"reason": batch.completion_reason, "statuses": [item.status for item in batch.all]}

    service = ServiceHarness()
    arn = service.start()
    output = await workflow.run(service.event(arn), client=service)
    assert json.loads(output["Result"]) == {
        "reason": "MIN_SUCCESSFUL_REACHED",
        "statuses": ["STARTED", "SUCCEEDED", "SUCCEEDED"],
    }


async def test_tolerated_failure_percentage_counts_all_items() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        batch = await ctx.map(
            [-1, 1, 2, 3],
            double,
            max_concurrency=1,
            completion=CompletionConfig(tolerated_failure_percentage=25),
        )
        return batch.completion_reason

    service = ServiceHarness()
    arn = service.start()
    output = await workflow.run(service.event(arn), client=service)
    assert json.loads(output["Result"]) == "ALL_COMPLETED"


async def test_empty_map_and_invalid_options() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> int:
        batch = await ctx.map([], double)
        return batch.total_count

    service = ServiceHarness()
    arn = service.start()
    assert (await workflow.run(service.event(arn), client=service))["Result"] == "0"
    with pytest.raises(ValidationError, match="max_concurrency"):
        validate_batch(3, 0, CompletionConfig())
    with pytest.raises(ValidationError, match="min_successful"):
        validate_batch(1, None, CompletionConfig(min_successful=2))


async def test_max_concurrency_bounds_branches_in_flight() -> None:
    active = 0
    peak = 0

    async def tracked(ctx: DurableContext, item: int, index: int) -> int:
        async def body() -> int:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0)
            active -= 1
            return item

        return await ctx.step(body)

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> int:
        batch = await ctx.map(list(range(50)), tracked, max_concurrency=5)
        return batch.success_count

    service = ServiceHarness()
    arn = service.start()
    assert (await workflow.run(service.event(arn), client=service))["Result"] == "50"
    assert 1 < peak <= 5


async def test_map_of_ten_thousand_items_uses_no_thread() -> None:
    started: list[threading.Thread] = []
    original = threading.Thread.start

    def spy(self: threading.Thread) -> None:
        started.append(self)
        original(self)

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> int:
        batch = await ctx.map(list(range(10_000)), double, max_concurrency=1000)
        return batch.success_count

    service = ServiceHarness()
    arn = service.start()
    threading.Thread.start = spy  # type: ignore[method-assign]
    try:
        output = await workflow.run(service.event(arn), client=service)
    finally:
        threading.Thread.start = original  # type: ignore[method-assign]
    assert output == {"Status": "SUCCEEDED", "Result": "10000"}
    assert started == []


async def test_parallel_named_branches_and_flat_nesting() -> None:
    async def a(ctx: DurableContext) -> str:
        return await ctx.step(lambda: "A", name="a")

    async def b(ctx: DurableContext) -> str:
        return await ctx.step(lambda: "B", name="b")

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> list[str | None]:
        nested = await ctx.parallel([NamedBranch("first", a), b], name="both")
        flat: BatchResult[str] = await ctx.parallel([a, b], nesting=Nesting.FLAT)
        return nested.get_results() + flat.get_results()

    service = ServiceHarness()
    arn = service.start()
    output = await workflow.run(service.event(arn), client=service)
    assert json.loads(output["Result"]) == ["A", "B", "A", "B"]
    names = {op.name for op in service.operations(arn) if op.sub_type == "ParallelBranch"}
    assert names == {"first", "parallel-branch-1"}


async def test_branch_suspended_on_a_wait_suspends_the_map() -> None:
    async def waiter(ctx: DurableContext, item: int, index: int) -> int:
        await ctx.wait(30)
        return item

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> int:
        batch = await ctx.map([1, 2], waiter)
        return sum(r or 0 for r in batch.get_results())

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)
    assert [o["Status"] for o in outputs] == ["PENDING", "SUCCEEDED"]
    assert outputs[-1]["Result"] == "3"


# -- logging and replay-safe values -----------------------------------------------------
async def test_logger_is_silent_during_replay() -> None:
    out = io.StringIO()

    @durable_execution(logging=LoggingConfig(logger=_Printer(out)))
    async def workflow(event: Any, ctx: DurableContext) -> None:
        ctx.logger.info("before wait")
        await ctx.wait(5)
        ctx.logger.info("after wait")

    service = ServiceHarness()
    arn = service.start()
    await drive(workflow, service, arn)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["before wait", "after wait"]
    assert all(line["executionArn"] == arn for line in lines)


class _Printer:
    def __init__(self, out: io.StringIO) -> None:
        self.out = out

    def msg(self, message: str) -> None:
        self.out.write(message + "\n")

    info = warning = error = debug = msg


async def test_replay_safe_values_are_identical_on_replay() -> None:
    seen: list[tuple[Any, ...]] = []

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        values = (await ctx.now(), await ctx.random(), await ctx.uuid4())
        seen.append(values)
        await ctx.wait(5)

    service = ServiceHarness()
    arn = service.start()
    await drive(workflow, service, arn)
    assert len(seen) == 2
    assert seen[0] == seen[1]
    now, number, identifier = seen[1]
    assert isinstance(now, datetime)
    assert isinstance(number, float)
    assert isinstance(identifier, UUID)
