"""Code written for the official SDK 3.0.0's shapes runs on aiodurable: a submitter taking
``(callback_id, ctx)``, the batch enums, an index-based ``should_complete``, ``Duration``.

Each test is the official-SDK snippet that used to fail here, now passing.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aws_durable_execution_sdk_python.config import Duration as OfficialDuration

from aiodurable import (
    BatchItemStatus,
    BatchResult,
    CompletionConfig,
    CompletionOutcome,
    CompletionReason,
    CompletionStatus,
    DurableContext,
    Duration,
    Jitter,
    RetryDecision,
    RetryStrategy,
    ValidationError,
    WaitDecision,
    WaitForCallbackContext,
    complete_batch,
    continue_batch,
    durable_execution,
)
from aiodurable.testing import LocalRunner

# -- wait_for_callback: both submitter arities -------------------------------------------

seen: dict[str, object] = {}


def official_submitter(callback_id: str, ctx: WaitForCallbackContext) -> None:
    # The official SDK's shape: the second argument carries the submitter's logger.
    ctx.logger.info("sending approval request", callback_id=callback_id)
    seen["official"] = (callback_id, ctx.attempt, ctx.operation_id)


async def plain_submitter(callback_id: str) -> None:
    seen["plain"] = callback_id


def submitter_with_default(callback_id: str, channel: str = "email") -> None:
    seen["default"] = (callback_id, channel)


@durable_execution
async def approvals(event: object, ctx: DurableContext) -> list[str]:
    first: str = await ctx.wait_for_callback(official_submitter, name="official", result_type=str)
    second: str = await ctx.wait_for_callback(plain_submitter, name="plain", result_type=str)
    third: str = await ctx.wait_for_callback(
        submitter_with_default, name="default", result_type=str
    )
    return [first, second, third]


async def test_a_submitter_declared_callback_id_and_ctx_gets_a_context_with_a_logger() -> None:
    seen.clear()
    async with LocalRunner(approvals) as runner:
        answers = {"official": "yes", "plain": "ok", "default": "fine"}
        runner.on_callback(None, lambda request: answers[request.name.split()[0]])
        result = await runner.run()

    assert result.status == "SUCCEEDED", result.error
    assert result.result == ["yes", "ok", "fine"]
    callback_id, attempt, operation_id = seen["official"]  # type: ignore[misc]
    assert isinstance(callback_id, str) and callback_id
    assert attempt == 1
    assert operation_id == result.step("official submitter").id
    assert isinstance(seen["plain"], str)
    # a second parameter with a default is not the context: the plain form
    assert seen["default"][1] == "email"  # type: ignore[index]


# -- BatchItemStatus / CompletionReason: string-valued enums ------------------------------


async def ok(ctx: DurableContext, item: int, index: int) -> int:
    if item < 0:
        raise ValueError("negative")
    return item * 10


@durable_execution
async def batch_shapes(event: object, ctx: DurableContext) -> dict[str, object]:
    result = await ctx.map([1, -1, 2], ok, completion=CompletionConfig.all_completed())
    return {
        "is_checks": [item.status is BatchItemStatus.SUCCEEDED for item in result.all],
        "eq_checks": [item.status == "SUCCEEDED" for item in result.all],
        "reason_is": result.completion_reason is CompletionReason.ALL_COMPLETED,
        "reason_eq": result.completion_reason == "ALL_COMPLETED",
        "status_is": result.status is BatchItemStatus.FAILED,
    }


async def test_batch_item_statuses_and_reasons_compare_by_identity_and_as_strings() -> None:
    async with LocalRunner(batch_shapes) as runner:
        result = await runner.run()
        # replayed from checkpoints: still enum members, not strings
        replayed = await runner.run()

    for run in (result, replayed):
        assert run.status == "SUCCEEDED", run.error
        assert run.result == {
            "is_checks": [True, False, True],
            "eq_checks": [True, False, True],
            "reason_is": True,
            "reason_eq": True,
            "status_is": True,
        }


def test_batch_results_built_from_strings_or_dicts_hold_enum_members() -> None:
    result = BatchResult.from_dict(
        {
            "all": [{"index": 0, "status": "FAILED", "error": {"ErrorMessage": "x"}}],
            "completionReason": "FAILURE_TOLERANCE_EXCEEDED",
        }
    )
    assert result.all[0].status is BatchItemStatus.FAILED
    assert result.completion_reason is CompletionReason.FAILURE_TOLERANCE_EXCEEDED
    assert json.loads(json.dumps(result.to_dict()))["all"][0]["status"] == "FAILED"
    assert BatchItemStatus.STARTED.value == "STARTED"
    assert [reason.value for reason in CompletionReason] == [
        "ALL_COMPLETED",
        "MIN_SUCCESSFUL_REACHED",
        "FAILURE_TOLERANCE_EXCEEDED",
        "CUSTOM_COMPLETION_SUCCEEDED",
        "CUSTOM_COMPLETION_FAILED",
    ]
    with pytest.raises(ValidationError, match="completionReason"):
        BatchResult.from_dict({"all": [], "completionReason": "NOPE"})


# -- should_complete: the per-index view ---------------------------------------------------

snapshots: list[tuple[int, tuple[object, ...]]] = []


def a_or_b_and_c(status: CompletionStatus) -> object:
    """The official SDK's quorum rule: branch 0 succeeds, or branches 1 and 2 both do."""
    snapshots.append((status.completed_count, tuple(item.status for item in status.items)))
    ok = [item.status is BatchItemStatus.SUCCEEDED for item in status.items]
    if ok[0] or (ok[1] and ok[2]):
        return complete_batch()
    if any(item.status is BatchItemStatus.FAILED for item in status.items[1:]):
        return complete_batch(CompletionOutcome.FAILED)
    return continue_batch()


async def fails(ctx: DurableContext) -> str:
    raise RuntimeError("branch A is down")


async def waits_then_succeeds(ctx: DurableContext) -> str:
    await ctx.wait(timedelta(seconds=5))
    return "slow"


async def succeeds(ctx: DurableContext) -> str:
    return "fast"


@durable_execution
async def quorum(event: object, ctx: DurableContext) -> dict[str, object]:
    result = await ctx.parallel(
        [fails, waits_then_succeeds, succeeds],
        completion=CompletionConfig(should_complete=a_or_b_and_c),  # type: ignore[arg-type]
    )
    return {
        "reason": result.completion_reason,
        "statuses": [item.status for item in result.all],
    }


async def test_should_complete_sees_each_branch_by_index_for_a_quorum_rule() -> None:
    snapshots.clear()
    async with LocalRunner(quorum) as runner:
        result = await runner.run()

    assert result.status == "SUCCEEDED", result.error
    assert result.result["reason"] == "CUSTOM_COMPLETION_SUCCEEDED"
    assert result.result["statuses"] == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    # asked before anything ran, then with every branch at its index whatever finished first
    assert snapshots[0] == (0, (None, None, None))
    assert snapshots[-1] == (
        3,
        (BatchItemStatus.FAILED, BatchItemStatus.SUCCEEDED, BatchItemStatus.SUCCEEDED),
    )
    # A failing was not enough on its own; B still running was seen as STARTED
    assert any(
        statuses[0] is BatchItemStatus.FAILED and BatchItemStatus.STARTED in statuses
        for _, statuses in snapshots
    )


def test_the_per_index_view_names_each_branch() -> None:
    seen_names: list[tuple[str | None, ...]] = []

    def record(status: CompletionStatus) -> object:
        seen_names.append(tuple(item.name for item in status.items))
        assert [item.index for item in status.items] == list(range(status.total_count))
        return continue_batch()

    import asyncio

    @durable_execution
    async def named(event: object, ctx: DurableContext) -> None:
        await ctx.map([1, 2], ok, completion=CompletionConfig(should_complete=record))  # type: ignore[arg-type]

    async def go() -> None:
        async with LocalRunner(named) as runner:
            assert (await runner.run()).status == "SUCCEEDED"

    asyncio.run(go())
    assert seen_names[0] == ("map-item-0", "map-item-1")


# -- Duration wherever a length of time is taken --------------------------------------------


@durable_execution
async def durations(event: object, ctx: DurableContext) -> int:
    await ctx.wait(Duration.from_minutes(5))
    await ctx.wait(OfficialDuration.from_hours(1))  # the official SDK's own value type
    callback = await ctx.create_callback(
        name="cb",
        timeout=Duration.from_days(1),
        heartbeat_timeout=OfficialDuration(60),
        result_type=int,
    )
    answer: int = await callback.result()
    return answer


async def test_ours_and_the_official_duration_are_accepted_by_wait_and_callbacks() -> None:
    async with LocalRunner(durations) as runner:
        started = runner.now()
        runner.on_callback("cb", lambda _request: 7)
        result = await runner.run()
        elapsed = runner.now() - started

    assert result.status == "SUCCEEDED", result.error
    assert result.result == 7
    assert elapsed >= timedelta(hours=1, minutes=5)
    callback = result.callback("cb")
    assert callback.operation.callback_details is not None


def test_duration_matches_the_official_constructor_and_factories() -> None:
    for ours, theirs in [
        (Duration(30), OfficialDuration(30)),
        (Duration.from_seconds(2.9), OfficialDuration.from_seconds(2.9)),
        (Duration.from_minutes(1.5), OfficialDuration.from_minutes(1.5)),
        (Duration.from_hours(2), OfficialDuration.from_hours(2)),
        (Duration.from_days(1), OfficialDuration.from_days(1)),
    ]:
        assert ours.to_seconds() == theirs.to_seconds()
    assert Duration(seconds=90).to_timedelta() == timedelta(seconds=90)
    with pytest.raises(ValidationError, match="negative"):
        Duration(-1)


def test_retry_and_wait_options_take_durations_and_the_official_decision_factories() -> None:
    strategy = RetryStrategy(
        max_attempts=3,
        initial_delay=Duration.from_seconds(4),
        max_delay=OfficialDuration.from_minutes(1),
        backoff_rate=2,
        jitter=Jitter.NONE,
    )
    assert strategy.decide(ValueError(), 1) == RetryDecision(True, 4)
    assert strategy.decide(ValueError(), 2) == RetryDecision(True, 8)
    assert RetryDecision.retry(OfficialDuration.from_minutes(2)) == RetryDecision(True, 120)
    assert RetryDecision.no_retry() == RetryDecision(False)
    assert WaitDecision.continue_waiting(Duration(10)) == WaitDecision(True, 10)
    assert WaitDecision.continue_waiting(timedelta(seconds=0.2)) == WaitDecision(True, 1)
    assert WaitDecision.stop_polling() == WaitDecision(False)
    with pytest.raises(ValidationError, match="timedelta or a Duration"):
        RetryDecision.retry("5 minutes")  # type: ignore[arg-type]
    assert WaitDecision.continue_waiting("30") == WaitDecision(True, 30)  # type: ignore[arg-type]
