"""Replays that would hand stored results to the wrong calls fail loudly instead.

Each workflow below changes what it does between its first invocation and its replay
(``ctx.is_replaying()`` stands in for a different process, hash seed or timing).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiodurable import CompletionConfig, DurableContext, durable_execution
from aiodurable.testing import LocalRunner


def double(value: int) -> int:
    return value * 2


async def _yield(times: int) -> None:
    """Non-durable awaits (as an HTTP call would be): they only change the task order."""
    for _ in range(times):
        await asyncio.sleep(0)


# -- 3: operation order that depends on task timing ------------------------------------
@durable_execution
async def racing_workers(event: object, ctx: DurableContext) -> list[int]:
    later_first = ctx.is_replaying()

    async def worker(i: int) -> int:
        await _yield(4 - i if later_first else i)
        return await ctx.step(double, i, name="work")

    results = await asyncio.gather(*(worker(i) for i in range(5)))
    await ctx.wait(1)
    return list(results)


@durable_execution
async def racing_closures(event: object, ctx: DurableContext) -> list[int]:
    later_first = ctx.is_replaying()

    async def worker(i: int) -> int:
        await _yield(4 - i if later_first else i)
        return await ctx.step(lambda: i * 2, name="work")

    results = await asyncio.gather(*(worker(i) for i in range(5)))
    await ctx.wait(1)
    return list(results)


async def test_tasks_reaching_same_named_steps_in_another_order_replay_their_own_results() -> None:
    # Each task numbers the operations it calls in its own lane (its rank among the
    # tasks the workflow created), so the order the tasks get there does not matter.
    for workflow in (racing_workers, racing_closures):
        async with LocalRunner(workflow, replay_check=True) as runner:
            result = await runner.run()

        assert result.status == "SUCCEEDED", result.error
        assert result.result == [0, 2, 4, 6, 8]


@durable_execution
async def sequential_workers(event: object, ctx: DurableContext) -> list[int]:
    async def worker(i: int) -> int:
        first = await ctx.step(double, i, name="first")
        return await ctx.step(double, first, name="second")

    results = await asyncio.gather(*(worker(i) for i in range(3)))
    await ctx.wait(1)
    return list(results)


async def test_workers_whose_second_step_comes_sooner_on_replay_replay_their_results() -> None:
    # First run: each "first" step waits for its checkpoint, so the workers take turns;
    # on replay "first" returns at once and worker 0 reaches "second" before the others.
    async with LocalRunner(sequential_workers) as runner:
        result = await runner.run()

    assert result.status == "SUCCEEDED", result.error
    assert result.result == [0, 4, 8]
    assert len(result.operations) == 3 * 2 + 1


@durable_execution
async def queue_fed_workers(event: object, ctx: DurableContext) -> list[int]:
    later_first = ctx.is_replaying()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for item in range(3):
        queue.put_nowait(item)

    async def worker(i: int) -> int:
        # Which item a worker takes depends on when it gets to the queue.
        await _yield(2 - i if later_first else i)
        return await ctx.step(double, queue.get_nowait(), name="work")

    results = await asyncio.gather(*(worker(i) for i in range(3)))
    await ctx.wait(1)
    return sorted(results)


async def test_workers_taking_items_in_a_timing_dependent_order_fail_the_replay() -> None:
    async with LocalRunner(queue_fed_workers) as runner:
        result = await runner.run()

    assert result.status == "FAILED", result.result
    assert result.error is not None
    assert result.error.error_type == "aiodurable.errors.NonDeterministicError"
    message = result.error.error_message or ""
    assert "'work'" in message
    assert "ctx.map" in message and "ctx.parallel" in message


@durable_execution
async def loops_over_a_changing_order(event: object, ctx: DurableContext) -> list[int]:
    items = [3, 2, 1] if ctx.is_replaying() else [1, 2, 3]  # like list(a_set)
    results = [await ctx.step(double, item, name="process") for item in items]
    await ctx.wait(1)
    return results


async def test_a_loop_over_items_in_another_order_fails_the_replay() -> None:
    async with LocalRunner(loops_over_a_changing_order) as runner:
        result = await runner.run()

    assert result.status == "FAILED"
    assert result.error is not None
    assert "other arguments" in (result.error.error_message or "")


@durable_execution
async def feeds_a_step_a_changing_value(event: object, ctx: DurableContext) -> int:
    stamp = 2 if ctx.is_replaying() else 1  # like time.time() in workflow code
    doubled = await ctx.step(double, stamp, name="double")
    await ctx.wait(1)
    return doubled


async def test_a_step_replayed_with_other_arguments_fails_the_replay() -> None:
    async with LocalRunner(feeds_a_step_a_changing_value) as runner:
        result = await runner.run()

    assert result.status == "FAILED", result.result
    assert result.error is not None
    assert "computed from other inputs" in (result.error.error_message or "")
    assert "ctx.now()" in (result.error.error_message or "")


@durable_execution
async def gathers_deterministically(event: object, ctx: DurableContext) -> list[int]:
    results = await asyncio.gather(*(ctx.step(double, i, name="work") for i in range(5)))
    await ctx.wait(1)
    more = await asyncio.gather(*(ctx.step(double, i, name="work") for i in range(5, 7)))
    return [*results, *more]


async def test_concurrent_steps_called_in_a_fixed_order_replay_under_replay_check() -> None:
    async with LocalRunner(gathers_deterministically, replay_check=True) as runner:
        result = await runner.run()

    assert result.status == "SUCCEEDED"
    assert result.result == [0, 2, 4, 6, 8, 10, 12]


# -- 4: map and parallel inputs that change between invocations ------------------------
@durable_execution
async def maps_a_reordered_list(event: object, ctx: DurableContext) -> list[str]:
    items = ["c", "b", "a"] if ctx.is_replaying() else ["a", "b", "c"]

    async def shout(child: DurableContext, item: str, index: int) -> str:
        loud = await child.step(str.upper, item, name="upper")
        await child.wait(1)  # the map is interrupted here on its first run
        return loud

    result = await ctx.map(items, shout, name="shout")
    return [f"{item}={loud}" for item, loud in zip(items, result.get_results(), strict=True)]


@durable_execution
async def replays_a_finished_map_over_new_items(event: object, ctx: DurableContext) -> list[str]:
    items = ["a", "x", "c"] if ctx.is_replaying() else ["a", "b", "c"]

    async def shout(child: DurableContext, item: str, index: int) -> str:
        return item.upper()

    result = await ctx.map(items, shout, name="shout")
    await ctx.wait(1)
    return [f"{item}={loud}" for item, loud in zip(items, result.get_results(), strict=True)]


async def test_map_items_that_changed_since_they_were_recorded_fail_naming_the_index() -> None:
    for workflow, index in ((maps_a_reordered_list, 0), (replays_a_finished_map_over_new_items, 1)):
        async with LocalRunner(workflow) as runner:
            result = await runner.run()

        assert result.status == "FAILED", result.result
        assert result.error is not None
        assert result.error.error_type == "aiodurable.errors.NonDeterministicError"
        message = result.error.error_message or ""
        assert f"item {index} is not the item recorded at index {index}" in message
        assert "'shout'" in message


@durable_execution
async def maps_a_sorted_set(event: object, ctx: DurableContext) -> list[str]:
    async def shout(child: DurableContext, item: str, index: int) -> str:
        loud = await child.step(str.upper, item, name="upper")
        await child.wait(1)
        return loud

    result = await ctx.map(sorted({"b", "a", "c"}), shout, name="shout")
    return [r for r in result.get_results() if r is not None]


async def test_a_map_over_a_sorted_set_replays_under_replay_check() -> None:
    async with LocalRunner(maps_a_sorted_set, replay_check=True) as runner:
        result = await runner.run()

    assert result.status == "SUCCEEDED"
    assert result.result == ["A", "B", "C"]


# -- 5: recorded operations the code no longer reaches ---------------------------------
@durable_execution
async def skips_its_wait_on_replay(event: object, ctx: DurableContext) -> str:
    await ctx.step(double, 1, name="prepare")
    if not ctx.is_replaying():
        await ctx.wait(timedelta(hours=1), name="cool-off")
    return "done"


@durable_execution
async def skips_inside_a_child(event: object, ctx: DurableContext) -> str:
    async def body(child: DurableContext) -> str:
        await child.step(double, 1, name="prepare")
        if not child.is_replaying():
            await child.wait(timedelta(hours=1), name="cool-off")
        return "done"

    return await ctx.run_in_child_context(body, name="group")


async def test_completing_without_reaching_recorded_operations_fails_naming_them() -> None:
    for workflow in (skips_its_wait_on_replay, skips_inside_a_child):
        async with LocalRunner(workflow) as runner:
            result = await runner.run()

        assert result.status == "FAILED", result.result
        assert result.error is not None
        assert result.error.error_type == "aiodurable.errors.NonDeterministicError"
        message = result.error.error_message or ""
        assert "wait 'cool-off'" in message
        assert "without reaching 1 operation" in message


@durable_execution
async def first_answer_wins(event: object, ctx: DurableContext) -> list[int | None]:
    async def answer(child: DurableContext, delay: int, index: int) -> int:
        await child.wait(delay)
        return await child.step(double, delay, name="answer")

    result = await ctx.map(
        [1, 50, 100], answer, name="race", completion=CompletionConfig.first_successful()
    )
    await ctx.wait(1000)
    return result.get_results()


async def test_branches_a_batch_completed_early_may_stay_unreached() -> None:
    async with LocalRunner(first_answer_wins, replay_check=True) as runner:
        result = await runner.run()

    assert result.status == "SUCCEEDED"
    assert result.result == [2]
