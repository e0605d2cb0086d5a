"""Map/parallel completion that depends only on inputs, custom completion predicates,
``BatchResult.to_dict/from_dict`` and ``with_retry`` — as the official SDK offers them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiodurable import (
    BatchCompletionError,
    BatchProgress,
    BatchResult,
    CompletionConfig,
    CompletionDecision,
    DurableContext,
    RetryStrategy,
    StepContext,
    ValidationError,
    durable_execution,
    with_retry,
)
from aiodurable.testing import LocalRunner


def process(item: dict[str, Any]) -> str:
    """A sync step (it runs in a worker thread, so completion order varies)."""
    if item["fail"]:
        raise RuntimeError(f"item {item['id']} failed")
    return f"item {item['id']} done"


@durable_execution
async def two_of_five(event: object, ctx: DurableContext) -> dict[str, Any]:
    items = [{"id": i, "fail": i in (2, 4)} for i in range(1, 6)]

    async def one(child: DurableContext, item: dict[str, Any], index: int) -> str:
        retry = RetryStrategy(max_attempts=2, initial_delay=1, max_delay=1)
        return await child.step(process, item, name=f"process-item-{index}", retry=retry)

    result = await ctx.map(
        items,
        one,
        name="two-of-five",
        max_concurrency=3,
        completion=CompletionConfig(min_successful=2, tolerated_failure_percentage=50),
    )
    return {
        "total": result.total_count,
        "succeeded": result.success_count,
        "failed": result.failure_count,
        "started": [item.index for item in result.started()],
        "reason": result.completion_reason,
    }


async def test_min_successful_gives_the_same_counts_on_every_run() -> None:
    seen = []
    for _ in range(4):
        async with LocalRunner(two_of_five) as runner:
            result = await runner.run()
        assert result.status == "SUCCEEDED", result.error
        seen.append(result.result)

    # Items 1 and 3 succeed, item 2 waits for its retry; counting item 1 frees the slot
    # that starts item 4, counting item 3 reaches min_successful.
    assert (
        seen
        == [
            {
                "total": 4,
                "succeeded": 2,
                "failed": 0,
                "started": [1, 3],
                "reason": "MIN_SUCCESSFUL_REACHED",
            }
        ]
        * 4
    )


@durable_execution
async def six_of_ten(event: object, ctx: DurableContext) -> dict[str, Any]:
    items = [{"id": i, "fail": i in (7, 8, 9)} for i in range(1, 11)]

    async def one(child: DurableContext, item: dict[str, Any], index: int) -> str:
        return await child.step(process, item, name=f"item_{index}")

    result = await ctx.map(
        items,
        one,
        name="map_min_successful",
        max_concurrency=5,
        completion=CompletionConfig(min_successful=6),
    )
    return {"total": result.total_count, "ok": result.success_count, "bad": result.failure_count}


async def test_every_item_starts_when_completions_free_the_slots_first() -> None:
    outcomes = []
    for _ in range(3):
        async with LocalRunner(six_of_ten, replay_check=True) as runner:
            result = await runner.run()
        outcomes.append(result.result)

    assert outcomes[0]["total"] == 10 and outcomes[0]["bad"] == 0
    assert 6 <= outcomes[0]["ok"] <= 7
    assert outcomes == [outcomes[0]] * 3


# -- custom completion predicate ---------------------------------------------------------
def enough(progress: BatchProgress) -> CompletionDecision:
    total = sum(item.result or 0 for item in progress.completed)
    if total >= 5:
        return CompletionDecision.complete_batch()
    if progress.failure_count:
        return CompletionDecision.complete_batch(failed=True)
    return CompletionDecision.continue_batch()


@durable_execution
async def adds_up(numbers: list[int], ctx: DurableContext) -> dict[str, Any]:
    async def value(child: DurableContext, n: int, index: int) -> int:
        if n < 0:
            raise ValueError("negative")
        return n

    result = await ctx.map(
        numbers, value, name="adds-up", completion=CompletionConfig(should_complete=enough)
    )
    try:
        result.throw_if_error()
        raised = None
    except Exception as exc:
        raised = type(exc).__name__
    return {
        "reason": result.completion_reason,
        "status": result.status,
        "results": result.get_results(),
        "raised": raised,
    }


async def test_a_custom_predicate_completes_the_batch_with_its_own_reason() -> None:
    async with LocalRunner(adds_up, replay_check=True) as runner:
        succeeded = await runner.run([2, 1, 3, 4])
        failed = await runner.run([1, 0, 0])

    assert succeeded.result == {
        "reason": "CUSTOM_COMPLETION_SUCCEEDED",
        "status": "SUCCEEDED",
        # Counted in index order: 2, 1, then 3 reaches 5; 4 had completed as well.
        "results": [2, 1, 3, 4],
        "raised": None,
    }
    # Everything completed without reaching 5: ALL_COMPLETED, as with no predicate.
    assert failed.result == {
        "reason": "ALL_COMPLETED",
        "status": "SUCCEEDED",
        "results": [1, 0, 0],
        "raised": None,
    }


@durable_execution
async def gives_up(event: object, ctx: DurableContext) -> dict[str, Any]:
    def stop(progress: BatchProgress) -> CompletionDecision:
        return CompletionDecision(complete=progress.success_count >= 1, failed=True)

    async def value(child: DurableContext, n: int, index: int) -> int:
        return n

    result = await ctx.map([1, 2], value, completion=CompletionConfig(should_complete=stop))
    with pytest.raises(BatchCompletionError):
        result.throw_if_error()
    return {"reason": result.completion_reason, "status": result.status}


async def test_a_predicate_can_complete_the_batch_as_failed() -> None:
    async with LocalRunner(gives_up) as runner:
        result = await runner.run()

    assert result.result == {"reason": "CUSTOM_COMPLETION_FAILED", "status": "FAILED"}


def test_a_predicate_cannot_be_combined_with_thresholds() -> None:
    with pytest.raises(ValidationError, match="should_complete"):
        CompletionConfig(min_successful=1, should_complete=enough)


# -- BatchResult.to_dict / from_dict ---------------------------------------------------
@durable_execution
async def returns_a_dict(event: object, ctx: DurableContext) -> dict[str, Any]:
    async def square(child: DurableContext, n: int, index: int) -> int:
        if n == 3:
            raise ValueError("three")
        return n * n

    result = await ctx.map([1, 2, 3], square, completion=CompletionConfig.all_completed())
    return result.to_dict()


async def test_batch_result_to_dict_and_back() -> None:
    async with LocalRunner(returns_a_dict) as runner:
        run = await runner.run()

    data = run.result
    assert data["completionReason"] == "ALL_COMPLETED"
    assert [item["status"] for item in data["all"]] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
    assert data["all"][2]["error"]["ErrorType"] == "ValueError"
    rebuilt = BatchResult.from_dict(data, result_type=int)
    assert rebuilt.get_results() == [1, 4]
    assert rebuilt.failure_count == 1
    assert rebuilt.to_dict() == data
    del data["completionReason"]
    inferred = BatchResult.from_dict(data, CompletionConfig.all_completed(), result_type=int)
    assert inferred.completion_reason == "ALL_COMPLETED"


# -- with_retry --------------------------------------------------------------------------
def book(attempt: int) -> str:
    if attempt < 3:
        raise ConnectionError(f"attempt {attempt}: no seats")
    return f"booked on attempt {attempt}"


@durable_execution
async def books_with_retries(event: object, ctx: DurableContext) -> str:
    async def block(child: DurableContext, attempt: int) -> str:
        await child.wait(1, name=f"think-{attempt}")
        return await child.step(book, attempt, name="book", retry=RetryStrategy.no_retry())

    return await with_retry(
        ctx, block, name="booking", retry=RetryStrategy(max_attempts=5, initial_delay=60)
    )


async def test_with_retry_reruns_the_block_after_a_durable_backoff() -> None:
    async with LocalRunner(books_with_retries, replay_check=True) as runner:
        result = await runner.run()

    assert result.status == "SUCCEEDED", result.error
    assert result.result == "booked on attempt 3"
    waits = [op.name for op in result.operations if op.type == "WAIT"]
    assert waits == [
        "think-1",
        "booking-backoff-1",
        "think-2",
        "booking-backoff-2",
        "think-3",
    ]


@durable_execution
async def runs_out_of_attempts(event: object, ctx: DurableContext) -> str:
    async def block(child: DurableContext, attempt: int) -> str:
        return await child.step(book, 1, name="book", retry=RetryStrategy.no_retry())

    return await with_retry(ctx, block, name="booking")


async def test_with_retry_fails_the_child_context_when_retries_run_out() -> None:
    async with LocalRunner(runs_out_of_attempts) as runner:
        result = await runner.run()

    assert result.status == "FAILED"
    assert result.error is not None
    assert result.error.error_type == "aiodurable.errors.ChildContextError"
    steps = [op for op in result.operations if op.type == "STEP"]
    assert len(steps) == 3  # the default: three attempts


_SLOW_CALLS = {"calls": 0}  # outlives the invocations of one test
_BRANCHES_STARTED_IN_A_STEP: list[str] = []


def _inside_a_step() -> bool:
    try:
        StepContext.current()
    except RuntimeError:
        return False
    return True


async def _slow_then_flaky() -> str:
    state = _SLOW_CALLS
    state["calls"] += 1
    await asyncio.sleep(0.05)  # parks last, inside its attempt, while it retries
    if state["calls"] == 1:
        raise ConnectionError("try again")
    return "slow done"


@durable_execution
async def refill_after_a_retrying_branch(event: object, ctx: DurableContext) -> list[str]:
    names = ["slow", "quick", "next"]

    async def one(child: DurableContext, name: str, index: int) -> str:
        if _inside_a_step():
            _BRANCHES_STARTED_IN_A_STEP.append(name)
        if name == "slow":
            retry = RetryStrategy(max_attempts=2, initial_delay=1, max_delay=1)
            return await child.step(_slow_then_flaky, name=name, retry=retry)
        return await child.step(lambda: f"{name} done", name=name)

    result = await ctx.map(
        names, one, name="refill", max_concurrency=2, completion=CompletionConfig(min_successful=3)
    )
    return result.get_results()


async def test_a_branch_started_while_another_waits_for_its_retry_is_not_inside_a_step() -> None:
    # The slot "quick" frees is refilled when every task is parked; the last to park is
    # "slow", inside its step's retry. "next" must start from the batch, not from there.
    _SLOW_CALLS["calls"] = 0
    _BRANCHES_STARTED_IN_A_STEP.clear()
    async with LocalRunner(refill_after_a_retrying_branch) as runner:
        run = await runner.run()
    assert _BRANCHES_STARTED_IN_A_STEP == []
    assert run.status == "SUCCEEDED", run.error
    assert run.result == ["slow done", "quick done", "next done"]


# -- when the same inputs give the same BatchResult ------------------------------------------
async def score(index: int) -> int:
    await asyncio.sleep(0.001 * (index % 7))  # real work takes uneven time
    if index % 40 == 3:
        raise ConnectionError(f"item {index} failed")
    return index


def tolerant_map(retry_delay: int | None) -> Any:
    retry = (
        RetryStrategy(max_attempts=2, initial_delay=retry_delay, max_delay=retry_delay)
        if retry_delay is not None
        else RetryStrategy(max_attempts=1)
    )

    @durable_execution
    async def workflow(event: object, ctx: DurableContext) -> list[int]:
        async def one(child: DurableContext, item: int, index: int) -> int:
            return await child.step(score, item, name="score", retry=retry)

        result = await ctx.map(
            list(range(200)),
            one,
            name="scores",
            max_concurrency=20,
            completion=CompletionConfig(tolerated_failure_count=2),
        )
        return [
            result.total_count,
            result.success_count,
            result.failure_count,
            len(result.started()),
        ]

    return workflow


@pytest.mark.parametrize(
    ("clock", "retry_delay"),
    [("virtual", 1), ("real", None)],
    ids=["virtual-clock-with-retry-delays", "real-clock-without-timers"],
)
async def test_an_early_completing_map_gives_the_same_result_where_no_timer_runs_out_mid_invocation(
    clock: str, retry_delay: int | None
) -> None:
    # The documented guarantee: the same inputs, durable state and max_concurrency give the
    # same BatchResult when no branch's timer can run out while the invocation still runs
    # other branches: always under virtual time, and under the real clock for branches
    # that neither wait nor retry with a delay.
    seen = []
    for _ in range(3):
        async with LocalRunner(tolerant_map(retry_delay), clock=clock) as runner:  # type: ignore[arg-type]
            result = await runner.run()
        assert result.status == "SUCCEEDED", result.error
        seen.append(result.result)
    assert seen[0] == seen[1] == seen[2]
    assert seen[0][2] == 3  # the third failure ends the batch
