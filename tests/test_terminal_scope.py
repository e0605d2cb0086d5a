"""Terminal scopes and sagas on LocalRunner: cleanup and compensations run on a true
outcome (never on a suspension), newest first, once each, and survive suspensions in
the middle of the rollback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiodurable import (
    CompletionConfig,
    DurableContext,
    RetryStrategy,
    StepError,
    TerminalScopeError,
    ValidationError,
    durable_execution,
)
from aiodurable.local import EventType
from aiodurable.testing import LocalRunner

NO_RETRY = RetryStrategy(max_attempts=1)

#: What the action bodies did, across every invocation of a run (LocalRunner is in-process).
ran: list[str] = []


@pytest.fixture(autouse=True)
def fresh_log() -> None:
    ran.clear()


async def act(label: str) -> str:
    ran.append(label)
    return label


async def refuse(label: str) -> str:
    ran.append(label)
    raise LookupError(f"{label} refused")


async def test_compensations_run_newest_first_then_the_error_is_raised_again() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            async with ctx.terminal_scope("booking") as scope:
                scope.finally_(act, "close", name="close")
                scope.on_failure(act, "undo-a", name="undo-a")
                scope.on_failure(act, "undo-b", name="undo-b")
                await ctx.step(refuse, "charge", name="charge", retry=NO_RETRY)
        except StepError as error:
            return f"{error.error_type}: {error}"
        return "no error"

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == "LookupError: charge refused"
    assert ran == ["charge", "undo-b", "undo-a", "close"]
    scope = run.operation("booking")
    assert (scope.type, scope.sub_type, scope.status) == ("CONTEXT", "TerminalScope", "SUCCEEDED")
    assert {run.step(n).parent_id for n in ("undo-b", "undo-a", "close")} == {scope.id}


async def test_a_successful_block_runs_its_cleanups_only() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        async with ctx.terminal_scope("ok") as scope:
            scope.on_failure(act, "undo", name="undo")
            scope.finally_(act, "close", name="close")
            return await ctx.step(act, "work", name="work")

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == "work"
    assert ran == ["work", "close"]
    assert [op.name for op in run.operations] == ["work", "ok", "close"]


async def test_a_successful_block_with_compensations_only_records_nothing_more() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        async with ctx.saga("trip") as saga:
            return await saga.step(act, "book", name="book", compensate=act)

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == "book" and ran == ["book"]
    assert [op.name for op in run.operations] == ["book"]


async def test_a_scope_that_waits_three_times_then_fails_compensates_once_after_the_last_wait() -> (
    None
):
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            async with ctx.terminal_scope("long") as scope:
                scope.on_failure(act, "undo-1", name="undo-1")
                scope.finally_(act, "cleanup", name="cleanup")
                for i in range(3):
                    await ctx.wait(60, name=f"wait-{i}")
                    scope.on_failure(act, f"undo-after-{i}", name=f"undo-after-{i}")
                await ctx.step(refuse, "last", name="last", retry=NO_RETRY)
        except StepError:
            return "rolled back"
        return "done"

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == "rolled back"
    assert run.invocations == 4  # three suspensions, each unwinding the block
    assert ran == ["last", "undo-after-2", "undo-after-1", "undo-after-0", "cleanup", "undo-1"]
    history = run.history
    last_wait = max(
        i
        for i, e in enumerate(history)
        if e.event_type is EventType.WAIT_SUCCEEDED and e.name == "wait-2"
    )
    action_starts = [
        i
        for i, e in enumerate(history)
        if e.event_type is EventType.STEP_STARTED and (e.name or "").startswith(("undo", "clean"))
    ]
    assert len(action_starts) == 5 and min(action_starts) > last_wait


async def test_a_failed_compensation_is_reported_with_the_error_and_the_rest_still_run() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> dict[str, Any]:
        try:
            async with ctx.terminal_scope("booking") as scope:
                scope.on_failure(act, "undo-a", name="undo-a")
                scope.on_failure(refuse, "undo-b", name="undo-b", retry=NO_RETRY)
                await ctx.step(refuse, "charge", name="charge", retry=NO_RETRY)
        except TerminalScopeError as error:
            cause = error.error
            return {
                "cause": cause is error.__cause__ and isinstance(cause, StepError),
                "error": cause.error_type if isinstance(cause, StepError) else None,
                "failures": [(f.name, f.kind, f.error.error_type) for f in error.failures],
                "message": str(error),
            }
        return {}

    async with LocalRunner(workflow, replay_check=True) as runner:
        run = await runner.run({})

    assert ran == ["charge", "undo-b", "undo-a"]
    assert run.result is not None
    assert run.result["cause"] is True and run.result["error"] == "LookupError"
    assert run.result["failures"] == [["undo-b", "compensation", "LookupError"]]
    assert "terminal scope 'booking' failed (StepError: charge refused)" in run.result["message"]


async def test_a_failed_cleanup_after_success_raises_terminal_scope_error_without_error() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        async with ctx.terminal_scope("tidy") as scope:
            scope.finally_(refuse, "close", name="close", retry=NO_RETRY)
        return "unreachable"

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.status == "FAILED"
    assert run.error is not None
    assert run.error.error_type == "aiodurable.errors.TerminalScopeError"
    assert "succeeded but 1 of its cleanup actions failed" in (run.error.error_message or "")


async def test_a_suspension_in_the_middle_of_the_rollback_resumes_it_without_repeating() -> None:
    flaky_runs: list[int] = []

    async def flaky_undo() -> str:
        flaky_runs.append(1)
        if len(flaky_runs) == 1:
            raise ConnectionError("provider down")  # retried after a durable delay
        return "undone"

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            async with ctx.terminal_scope("booking") as scope:
                scope.on_failure(act, "undo-first", name="undo-first")
                scope.on_failure(flaky_undo, name="flaky", retry=RetryStrategy(initial_delay=30))
                scope.on_failure(act, "undo-last", name="undo-last")
                await ctx.step(refuse, "charge", name="charge", retry=NO_RETRY)
        except StepError:
            return "rolled back"
        return "done"

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == "rolled back"
    assert run.invocations == 2  # the retry's delay suspended the rollback
    assert ran == ["charge", "undo-last", "undo-first"]
    assert len(flaky_runs) == 2 and run.step("flaky").attempts == 2


async def test_scopes_nest_and_the_inner_rollback_runs_before_the_outer() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            async with ctx.terminal_scope("outer") as outer:
                outer.on_failure(act, "outer-undo", name="outer-undo")
                outer.finally_(act, "outer-close", name="outer-close")
                async with ctx.terminal_scope("inner") as inner:
                    inner.on_failure(act, "inner-undo", name="inner-undo")
                    await ctx.wait(10)
                    await ctx.step(refuse, "deep", name="deep", retry=NO_RETRY)
        except StepError as error:
            return str(error)
        return "done"

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == "deep refused"
    assert ran == ["deep", "inner-undo", "outer-close", "outer-undo"]


async def test_scopes_work_in_map_items_and_parallel_branches() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> list[str | None]:
        async def item(child: DurableContext, n: int, index: int) -> str:
            try:
                async with child.saga(f"item-{n}") as saga:
                    await saga.step(act, f"book-{n}", name="book", compensate=act)
                    await child.wait(5)
                    if n % 2:
                        await saga.step(refuse, f"fail-{n}", name="fail", retry=NO_RETRY)
            except StepError:
                return f"undone {n}"
            return f"kept {n}"

        async def branch(child: DurableContext) -> str:
            async with child.terminal_scope("branch") as scope:
                scope.finally_(act, "branch-close", name="close")
                await child.wait(5)
            return "branch done"

        mapped = await ctx.map([1, 2, 3], item, name="items")
        parallel = await ctx.parallel([branch], name="branches")
        return mapped.get_results() + parallel.get_results()

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == ["undone 1", "kept 2", "undone 3", "branch done"]
    # A compensation receives the forward step's result.
    assert sorted(ran) == sorted(
        ["book-1", "book-2", "book-3", "fail-1", "fail-3", "book-1", "book-3", "branch-close"]
    )


async def test_a_cancellation_that_is_not_a_suspension_is_a_failure_of_the_block() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        async def guarded() -> None:
            async with ctx.terminal_scope("guarded") as scope:
                scope.on_failure(act, "undo", name="undo")
                await asyncio.Event().wait()  # never set: only a cancellation ends it

        task = asyncio.create_task(guarded())
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "not cancelled"

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == "cancelled"
    assert ran == ["undo"]


async def test_actions_are_registered_inside_the_block_with_positional_arguments() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        async with ctx.terminal_scope("s") as scope:
            with pytest.raises(TypeError, match=r"functools\.partial\(fn, label=\.\.\.\)"):
                scope.on_failure(act, label="x")
        with pytest.raises(ValidationError, match="has ended: register its actions inside"):
            scope.on_failure(act, "late")
        unentered = ctx.saga("never-entered")
        with pytest.raises(ValidationError, match="was not entered"):
            await unentered.step(act, "forward", compensate=act)
        return "checked"

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == "checked" and ran == []


async def test_finally_can_tell_a_suspension_from_an_end() -> None:
    seen: list[bool] = []

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.wait(60, name="pause")
            return "done"
        finally:
            seen.append(ctx.is_suspending())

    async with LocalRunner(workflow) as runner:
        run = await runner.run({})

    assert run.result == "done"
    assert seen == [True, False]  # unwound by the suspension, then the true end


async def test_a_branch_abandoned_by_a_completion_policy_runs_its_actions() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> list[str | None]:
        async def item(child: DurableContext, n: int, index: int) -> str:
            async with child.terminal_scope(f"item-{n}") as scope:
                scope.on_failure(act, f"undo-{n}", name="undo")
                scope.finally_(act, f"close-{n}", name="close")
                if n:
                    await child.wait(100)  # item 0 completes the map meanwhile
                return await child.step(act, f"work-{n}", name="work")

        first = CompletionConfig.first_successful()
        result = await ctx.map([0, 1], item, name="items", completion=first)
        await ctx.wait(5)  # the next invocation replays the map: nothing runs again
        return result.get_results()

    async with LocalRunner(workflow, replay_check=True) as runner:
        run = await runner.run({})

    assert run.result == ["work-0"]
    assert ran == ["work-0", "close-0", "close-1", "undo-1"]
