"""The core runtime: ids, steps, waits, replay, checkpoint batching, output envelope."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from aiodurable import (
    DurableContext,
    NonDeterministicError,
    RetryStrategy,
    StepContext,
    StepError,
    StepSemantics,
    durable_execution,
)
from aiodurable.errors import CheckpointError, InvalidInvocationError
from aiodurable.invocation import MAX_OUTPUT_CHARS, decode_invocation
from aiodurable.runtime.checkpointer import Checkpointer
from aiodurable.runtime.operation_ids import branch_id, hash_id, step_id
from aiodurable.runtime.outcome import InvocationOutcome
from aiodurable.wire import OperationAction, OperationStatus, OperationType, OperationUpdate

from .service_harness import ServiceHarness, drive

ROOT_1 = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
ROOT_2 = "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6"


def test_operation_ids_match_the_official_vectors() -> None:
    assert step_id(None, 1) == ROOT_1
    assert step_id(None, 2) == ROOT_2
    assert step_id(ROOT_1, 1) == "974bfc6321e227b0ff101342eaf19b336f002dc6cc99c18f0941a7755cc20fc4"
    assert step_id(ROOT_1, 2) == "9d8bc609108ec7b3600d6cceec22d18553e3e1ec52a3568cb251464a3d39d24f"
    branch0 = branch_id(ROOT_1, 0)
    assert branch0 == "1712f93e2f51df042e2b933907d75accfe34a48fe4a42a24e0b08131bc72d591"
    assert step_id(branch0, 1) == (
        "48550629202cb2d0e1bd4f07d826361bbd2defa71565264c01647fc2da0e9b1e"
    )
    assert hash_id("1") != "92cdf578c47085a5992256f0dcf97d0b19f1f1c9de4d5fe30c3ace6191b6e5db"


@dataclass
class Receipt:
    order_id: str
    total: float


class Parcel(msgspec.Struct):
    tracking: str
    weight: int


async def make_receipt(order_id: str) -> Receipt:
    return Receipt(order_id, 12.5)


def make_parcel(tracking: str) -> Parcel:  # sync: runs in a worker thread
    return Parcel(tracking, threading.get_ident())


@durable_execution
async def typed_workflow(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    receipt = await ctx.step(make_receipt, "o-1")
    parcel = await ctx.step(make_parcel, "t-1")
    await ctx.wait(60)
    assert isinstance(receipt, Receipt), type(receipt)
    assert isinstance(parcel, Parcel), type(parcel)
    return {"receipt": receipt, "parcel": parcel.tracking}


async def test_typed_results_replay_as_the_same_type() -> None:
    service = ServiceHarness()
    arn = service.start("{}")
    outputs = await drive(typed_workflow, service, arn)
    assert [o["Status"] for o in outputs] == ["PENDING", "SUCCEEDED"]
    assert msgspec.json.decode(outputs[-1]["Result"]) == {
        "receipt": {"order_id": "o-1", "total": 12.5},
        "parcel": "t-1",
    }
    parcel_op = service.executions[arn].operations[ROOT_2]
    assert parcel_op.step_details is not None
    # The sync step ran off the event loop thread.
    parcel = msgspec.json.decode(parcel_op.step_details.result or "", type=Parcel)
    assert parcel.weight != threading.get_ident()


async def test_sequential_step_costs_one_checkpoint_call() -> None:
    async def trivial(i: int) -> int:
        return i

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> int:
        total = 0
        for i in range(20):
            total += await ctx.step(trivial, i)
        return total

    service = ServiceHarness()
    arn = service.start()
    output = await workflow.run(service.event(arn), client=service)
    assert output == {"Status": "SUCCEEDED", "Result": "190"}
    assert len(service.calls) == 20
    assert all([u.action for u in c.updates] == ["START", "SUCCEED"] for c in service.calls)


async def test_checkpoint_token_is_chained() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        await ctx.step(make_receipt, "a")
        await ctx.step(make_receipt, "b")

    service = ServiceHarness()
    arn = service.start()
    event = service.event(arn)
    await workflow.run(event, client=service)
    tokens = [call.token for call in service.calls]
    assert tokens[0] == event["CheckpointToken"]
    assert len(set(tokens)) == len(tokens)


async def test_replay_does_not_run_completed_steps() -> None:
    runs: list[str] = []

    async def record(label: str) -> str:
        runs.append(label)
        return label

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        a = await ctx.step(record, "a")
        await ctx.wait(10)
        b = await ctx.step(record, "b")
        return a + b

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)
    assert outputs[-1] == {"Status": "SUCCEEDED", "Result": '"ab"'}
    assert runs == ["a", "b"]


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: list[int] = []

    async def __call__(self) -> str:
        self.attempts.append(StepContext.current().attempt)
        if len(self.attempts) <= self.failures:
            raise ConnectionError(f"transient {len(self.attempts)}")
        return "ok"


@pytest.mark.parametrize("semantics", list(StepSemantics))
async def test_step_retries_then_succeeds(semantics: StepSemantics) -> None:
    flaky = Flaky(failures=2)

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(
            flaky,
            name="flaky",
            semantics=semantics,
            retry=RetryStrategy(max_attempts=3, initial_delay=1),
        )

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)
    assert [o["Status"] for o in outputs] == ["PENDING", "PENDING", "SUCCEEDED"]
    assert flaky.attempts == [1, 2, 3]
    actions = [u.action for c in service.calls for u in c.updates]
    assert actions == ["START", "RETRY", "START", "RETRY", "START", "SUCCEED"]
    op = service.executions[arn].operations[ROOT_1]
    assert op.step_details is not None and op.step_details.attempt == 3


async def test_step_failure_raises_the_same_step_error_live_and_on_replay() -> None:
    seen: list[tuple[str | None, str]] = []

    async def broken() -> None:
        raise KeyError("missing")

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.step(broken, retry=RetryStrategy.no_retry())
        except StepError as error:
            seen.append((error.error_type, error.message))
        await ctx.wait(5)
        return "done"

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)
    assert outputs[-1]["Status"] == "SUCCEEDED"
    assert seen == [("KeyError", "'missing'"), ("KeyError", "'missing'")]


async def test_at_most_once_step_interrupted_is_not_rerun() -> None:
    runs: list[int] = []

    async def once() -> str:
        runs.append(1)
        return "x"

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(
            once,
            name="once",
            semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
            retry=RetryStrategy.no_retry(),
        )

    service = ServiceHarness()
    arn = service.start()
    # Simulate a crash after the START became durable: the op is STARTED in the service.
    await service.checkpoint(
        arn,
        service.executions[arn].token,
        [
            OperationUpdate(
                id=ROOT_1,
                type=OperationType.STEP,
                action=OperationAction.START,
                name="once",
                sub_type="Step",
            )
        ],
    )
    output = await workflow.run(service.event(arn), client=service)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "aiodurable.errors.StepError"
    assert "interrupted" in output["Error"]["ErrorMessage"]
    assert runs == []


async def test_at_least_once_step_started_reruns_without_new_start() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(make_receipt, "o", name="r") and "ok"

    service = ServiceHarness()
    arn = service.start()
    await service.checkpoint(
        arn,
        service.executions[arn].token,
        [
            OperationUpdate(
                id=ROOT_1,
                type=OperationType.STEP,
                action=OperationAction.START,
                name="r",
                sub_type="Step",
            )
        ],
    )
    service.calls.clear()
    output = await workflow.run(service.event(arn), client=service)
    assert output["Status"] == "SUCCEEDED"
    assert [u.action for c in service.calls for u in c.updates] == ["SUCCEED"]


async def test_nondeterminism_fails_the_execution_naming_both_operations() -> None:
    @durable_execution
    async def v1(event: Any, ctx: DurableContext) -> None:
        await ctx.step(make_receipt, "a", name="charge")
        await ctx.wait(5)

    @durable_execution
    async def v2(event: Any, ctx: DurableContext) -> None:
        await ctx.step(make_receipt, "a", name="refund")

    service = ServiceHarness()
    arn = service.start()
    assert (await v1.run(service.event(arn), client=service))["Status"] == "PENDING"
    output = await v2.run(service.event(arn), client=service)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "aiodurable.errors.NonDeterministicError"
    assert "'charge'" in output["Error"]["ErrorMessage"]
    assert "'refund'" in output["Error"]["ErrorMessage"]


async def test_nondeterminism_is_fatal_even_if_user_code_catches_it() -> None:
    @durable_execution
    async def v1(event: Any, ctx: DurableContext) -> None:
        await ctx.wait(5)

    @durable_execution
    async def v2(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.step(make_receipt, "a")
        except NonDeterministicError:
            return "swallowed"
        return "no"

    service = ServiceHarness()
    arn = service.start()
    await v1.run(service.event(arn), client=service)
    output = await v2.run(service.event(arn), client=service)
    assert output["Status"] == "FAILED"


async def test_burst_of_ten_thousand_updates_is_split_by_count_and_size() -> None:
    service = ServiceHarness()
    arn = service.start()
    merged: list[Any] = []
    checkpointer = Checkpointer(
        service, arn, service.executions[arn].token, merged.extend, InvocationOutcome()
    )
    checkpointer.start()
    big = "x" * 20_000
    for i in range(10_000):
        payload = big if i % 100 == 0 else None
        checkpointer.enqueue(
            OperationUpdate(
                id=f"op-{i}", type=OperationType.STEP, action=OperationAction.START, payload=payload
            )
        )
    await checkpointer.checkpoint(
        OperationUpdate(id="op-last", type=OperationType.STEP, action=OperationAction.START)
    )
    await checkpointer.close()
    sizes = [len(c.updates) for c in service.calls]
    assert sum(sizes) == 10_001
    assert max(sizes) <= 250
    for call in service.calls:
        assert sum(len(msgspec.json.encode(u)) for u in call.updates) <= 750 * 1024
    assert len(service.calls) >= 41


async def test_oversized_result_completes_through_an_execution_checkpoint() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return "y" * (MAX_OUTPUT_CHARS + 10)

    service = ServiceHarness()
    arn = service.start()
    output = await workflow.run(service.event(arn), client=service)
    final = service.calls[-1].updates[-1]
    assert final.type is OperationType.EXECUTION and final.action is OperationAction.SUCCEED
    # The service caps a checkpoint request at 6 MiB: a result too large for the Lambda
    # response is also too large to checkpoint, and the execution fails saying so.
    assert output["Status"] == "FAILED"
    assert "6291456 bytes" in output["Error"]["ErrorMessage"]


def test_event_milliseconds_and_api_seconds_decode_to_the_same_instant() -> None:
    ms_event = {
        "DurableExecutionArn": "arn:x/durable-execution/n/e1",
        "CheckpointToken": "t",
        "InitialExecutionState": {
            "Operations": [
                {
                    "Id": "w",
                    "Type": "WAIT",
                    "Status": "STARTED",
                    "StartTimestamp": 1767225600000,
                    "WaitDetails": {"ScheduledEndTimestamp": 1767225660500},
                }
            ]
        },
    }
    decoded = decode_invocation(ms_event)
    op = decoded.initial_execution_state.operations[0]
    assert op.start_timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    assert op.wait_details is not None
    assert op.wait_details.scheduled_end_timestamp == datetime(2026, 1, 1, 0, 1, 0, 500000, UTC)
    from aiodurable.wire import Operation

    api = msgspec.convert(
        {"Id": "w", "Type": "WAIT", "Status": "STARTED", "StartTimestamp": 1767225600.0},
        Operation,
        strict=False,
    )
    assert api.start_timestamp == op.start_timestamp


def test_a_plain_event_is_rejected_with_a_clear_error() -> None:
    with pytest.raises(InvalidInvocationError, match="not a durable execution invocation"):
        decode_invocation({"orderId": 1})


async def test_state_is_paged_before_the_input_is_read() -> None:
    @durable_execution
    async def workflow(event: dict[str, int], ctx: DurableContext) -> int:
        for i in range(5):
            await ctx.step(make_receipt, str(i))
        return event["n"]

    service = ServiceHarness(page_size=2)
    arn = service.start('{"n": 7}')
    await workflow.run(service.event(arn), client=service)
    # Now replay with only one operation on the first page (the EXECUTION op is paged).
    output = await workflow.run(service.event(arn, first_page=1), client=service)
    assert output == {"Status": "SUCCEEDED", "Result": "7"}
    assert service.state_calls >= 3


async def test_terminal_checkpoint_error_fails_and_retryable_one_raises() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        await ctx.step(make_receipt, "a")
        return "ok"

    service = ServiceHarness()
    arn = service.start()
    service.fail_next.append(CheckpointError("payload too large", retryable=False))
    output = await workflow.run(service.event(arn), client=service)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "aiodurable.errors.CheckpointError"

    arn2 = service.start()
    service.fail_next.append(CheckpointError("throttled", retryable=True))
    with pytest.raises(CheckpointError, match="throttled"):
        await workflow.run(service.event(arn2), client=service)


async def test_revoked_token_ends_the_invocation_pending() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        await ctx.step(make_receipt, "a")
        return "ok"

    service = ServiceHarness()
    arn = service.start()
    service.revoke_next = True
    output = await workflow.run(service.event(arn), client=service)
    assert output == {"Status": "PENDING"}


async def test_wait_shorter_than_a_second_is_rejected_before_checkpointing() -> None:
    from aiodurable import ValidationError

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        await ctx.wait(0.5)

    service = ServiceHarness()
    arn = service.start()
    output = await workflow.run(service.event(arn), client=service)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "aiodurable.errors.ValidationError"
    assert service.calls == []
    assert ValidationError.__name__ in output["Error"]["ErrorType"]


async def test_no_task_outlives_an_invocation() -> None:
    import asyncio

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        await asyncio.gather(ctx.step(make_receipt, "a"), ctx.wait(30))

    service = ServiceHarness()
    arn = service.start()
    before = asyncio.all_tasks()
    output = await workflow.run(service.event(arn), client=service)
    assert output == {"Status": "PENDING"}
    assert asyncio.all_tasks() == before
    statuses = {op.type: op.status for op in service.operations(arn)}
    assert statuses[OperationType.STEP] is OperationStatus.SUCCEEDED


def _exit_sync() -> None:
    raise SystemExit(3)


async def _exit_async() -> None:
    raise SystemExit(4)


async def _exit_in_branch(ctx: DurableContext, item: int, index: int) -> None:
    await ctx.step(_exit_async)


@pytest.mark.parametrize("where", ["sync step", "async step", "map branch", "workflow"])
async def test_sys_exit_fails_the_invocation_without_checkpointing(where: str) -> None:
    from aiodurable import InvocationExitError, StepSemantics

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        if where == "sync step":
            await ctx.step(_exit_sync, semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
        elif where == "async step":
            await ctx.step(_exit_async)
        elif where == "map branch":
            await ctx.map([1, 2], _exit_in_branch)
        else:
            raise SystemExit(5)

    service = ServiceHarness()
    arn = service.start()
    with pytest.raises(InvocationExitError, match="SystemExit"):
        await workflow.run(service.event(arn), client=service)
    actions = {u.action for c in service.calls for u in c.updates}
    assert actions <= {OperationAction.START}  # no SUCCEED, FAIL or RETRY was written


def test_the_lambda_entry_point_keeps_one_event_loop_across_warm_invocations() -> None:
    import asyncio

    loops: list[int] = []

    async def where() -> int:
        loops.append(id(asyncio.get_running_loop()))
        return len(loops)

    service = ServiceHarness()

    @durable_execution(client=service)
    async def workflow(event: Any, ctx: DurableContext) -> int:
        return await ctx.step(where)

    first = service.start()
    second = service.start()
    assert workflow(service.event(first), None) == {"Status": "SUCCEEDED", "Result": "1"}
    assert workflow(service.event(second), None) == {"Status": "SUCCEEDED", "Result": "2"}
    assert len(set(loops)) == 1


def test_the_lambda_entry_point_exits_the_process_when_the_workflow_exits() -> None:
    """Called by a Lambda runtime client, ``sys.exit`` ends the process (Runtime.ExitError)."""
    from aiodurable import InvocationExitError

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        raise SystemExit(7)

    service = ServiceHarness()
    arn = service.start()
    workflow._client = service  # type: ignore[assignment]  # the entry point's own client
    with pytest.raises(SystemExit) as exited:
        workflow(service.event(arn))
    assert exited.value.code == 7
    assert isinstance(exited.value.__cause__, InvocationExitError)
