"""Instrumentation plugins: which hooks fire, when, with what, and that failures are contained."""

from __future__ import annotations

import threading
from typing import Any

from aiodurable import (
    CompletionConfig,
    DurableContext,
    NamedBranch,
    Nesting,
    Plugin,
    RetryStrategy,
    durable_execution,
)
from aiodurable.plugins import (
    InvocationEndInfo,
    InvocationEndStatus,
    InvocationStartInfo,
    OperationChangeInfo,
    OperationEndInfo,
    OperationStartInfo,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)
from aiodurable.testing import LocalRunner

from .service_harness import ServiceHarness, drive


class Recorder(Plugin):
    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []
        self.infos: list[object] = []

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self.infos.append(info)
        self.records.append(("invocation-start", info.is_first_invocation))

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.infos.append(info)
        self.records.append(("invocation-end", info.status))

    def on_operation_start(self, info: OperationStartInfo) -> None:
        self.infos.append(info)
        self.records.append(("operation-start", info.operation_type, info.is_replayed))

    def on_operation_end(self, info: OperationEndInfo) -> None:
        self.infos.append(info)
        self.records.append(("operation-end", info.operation_type, info.status))

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        self.infos.append(info)
        self.records.append(("fn-start", info.operation_type, info.attempt))

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        self.infos.append(info)
        self.records.append(("fn-end", info.operation_type, info.attempt, info.outcome))


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
        ("operation-start", "STEP", False),
        ("fn-start", "STEP", 1),
        ("fn-end", "STEP", 1, "FAILED"),
        ("invocation-end", "PENDING"),
        ("invocation-start", False),
        # the retry's new START of an operation recorded before
        ("operation-start", "STEP", True),
        ("fn-start", "STEP", 2),
        ("fn-end", "STEP", 2, "SUCCEEDED"),
        ("operation-end", "STEP", "SUCCEEDED"),
        ("invocation-end", "SUCCEEDED"),
    ]


class Faulty(Plugin):
    def __init__(self) -> None:
        self.calls = 0

    def fail(self) -> None:
        self.calls += 1
        raise RuntimeError("exploded")

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self.fail()

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.fail()

    def on_operation_start(self, info: OperationStartInfo) -> None:
        self.fail()

    def on_operation_end(self, info: OperationEndInfo) -> None:
        self.fail()

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        self.fail()

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        self.fail()

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        self.fail()


async def test_a_failing_plugin_changes_nothing_and_the_next_plugin_still_hears_everything() -> (
    None
):
    faulty, healthy = Faulty(), Recorder()

    async def greet(name: str) -> str:
        return f"Hello, {name}!"

    @durable_execution(plugins=[faulty, healthy])
    async def workflow(event: str, ctx: DurableContext) -> str:
        return await ctx.step(greet, event)

    service = ServiceHarness()
    arn = service.start('"World"')
    output = await workflow.run(service.event(arn), client=service)
    assert output == {"Status": "SUCCEEDED", "Result": '"Hello, World!"'}
    assert faulty.calls == 7  # every hook ran once and raised
    assert [r[0] for r in healthy.records] == [
        "invocation-start",
        "operation-start",
        "fn-start",
        "fn-end",
        "operation-end",
        "invocation-end",
    ]


class Everything(Plugin):
    """Keeps every info it is given, by hook."""

    def __init__(self) -> None:
        self.infos: list[tuple[str, Any]] = []

    def _keep(self, hook: str, info: Any) -> None:
        self.infos.append((hook, info))

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self._keep("invocation-start", info)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self._keep("invocation-end", info)

    def on_operation_start(self, info: OperationStartInfo) -> None:
        self._keep("operation-start", info)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        self._keep("operation-end", info)

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        # the maps are views valid during the hook: keep copies
        self._keep("operation-change", (dict(info.updated_operations), dict(info.operations)))

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        self._keep("fn-start", info)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        self._keep("fn-end", info)

    def of(self, hook: str, **fields: Any) -> list[Any]:
        return [
            info
            for kept, info in self.infos
            if kept == hook and all(getattr(info, k) == v for k, v in fields.items())
        ]


async def test_a_wait_completed_while_suspended_ends_once_when_replay_reaches_it() -> None:
    # The official SDK's "wait plugin" example: on_operation_end fires for a wait the
    # service completed between invocations, not replayed, with its end time.
    plugin = Everything()

    @durable_execution(plugins=[plugin])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        await ctx.wait(1, name="plugin-wait")
        return "Plugin wait completed"

    async with LocalRunner(workflow) as runner:
        result = await runner.run()
    assert result.status == "SUCCEEDED"
    (end,) = plugin.of("operation-end", name="plugin-wait")
    assert end.operation_type == "WAIT" and end.status == "SUCCEEDED"
    assert end.is_replayed is False and end.end_time is not None
    assert end.start_time is not None and end.execution_arn == result.arn
    (start,) = plugin.of("operation-start", name="plugin-wait")
    assert start.is_replayed is False  # the live START; terminal on replay, so not again
    second = plugin.of("invocation-start", is_first_invocation=False)
    assert [list(s.updated_operations) for s in second] == [[end.operation_id]]
    assert second[0].updated_operations[end.operation_id].status == "SUCCEEDED"


async def test_pending_operations_replay_as_started_and_terminal_ones_stay_quiet() -> None:
    plugin = Everything()

    @durable_execution(plugins=[plugin])
    async def workflow(event: Any, ctx: DurableContext) -> list[str | None]:
        async def short(branch: DurableContext) -> str:
            await branch.wait(2, name="short")
            return "short-done"

        async def long(branch: DurableContext) -> str:
            await branch.wait(8, name="long")
            return "long-done"

        result = await ctx.parallel([short, long], name="waits")
        return result.get_results()

    async with LocalRunner(workflow) as runner:
        result = await runner.run()
    assert result.result == ["short-done", "long-done"]
    long_starts = [(s.is_replayed, s.end_time) for s in plugin.of("operation-start", name="long")]
    assert long_starts[0] == (False, None)
    assert (True, None) in long_starts[1:]  # still pending when the short wait woke us
    assert [s.is_replayed for s in plugin.of("operation-start", name="short")] == [False]
    assert len(plugin.of("operation-end", name="short", status="SUCCEEDED")) == 1
    assert len(plugin.of("operation-end", name="long", status="SUCCEEDED")) == 1
    (parallel,) = plugin.of("operation-end", name="waits")
    assert parallel.sub_type == "Parallel" and parallel.parent_id is None


async def test_nested_operations_name_their_parent_and_branch_functions_are_hooked() -> None:
    plugin = Everything()

    @durable_execution(plugins=[plugin])
    async def workflow(event: Any, ctx: DurableContext) -> list[str | None]:
        async def a(branch: DurableContext) -> str:
            await branch.step(lambda: "x", name="inner")
            await branch.wait(2)
            return "a-done"

        async def b(branch: DurableContext) -> str:
            raise ValueError("b fails")

        branches = [NamedBranch("branch-a", a), NamedBranch("branch-b", b)]
        result = await ctx.parallel(
            branches,
            name="ctx",
            max_concurrency=1,
            completion=CompletionConfig.all_completed(),
        )
        return result.get_results()

    async with LocalRunner(workflow) as runner:
        result = await runner.run()
    assert result.result == ["a-done"]
    (parallel_start,) = plugin.of("operation-start", name="ctx", is_replayed=False)
    assert parallel_start.sub_type == "Parallel"
    (inner,) = plugin.of("operation-end", name="inner")
    (branch_a,) = plugin.of("operation-end", name="branch-a")
    assert inner.parent_id == branch_a.operation_id
    assert branch_a.parent_id == parallel_start.operation_id
    assert branch_a.sub_type == "ParallelBranch" and branch_a.result == '"a-done"'
    a_runs = [f.is_replay_children for f in plugin.of("fn-start", name="branch-a")]
    assert a_runs == [False, True]  # live, then re-run so its children replay
    (b_end,) = plugin.of("fn-end", name="branch-b")
    assert b_end.outcome == "FAILED" and b_end.error.error_message == "b fails"
    assert b_end.parent_id == parallel_start.operation_id
    assert b_end.start_time is not None and b_end.end_time >= b_end.start_time


async def test_operation_change_reports_the_changed_operations_within_the_full_map() -> None:
    plugin = Everything()

    @durable_execution(plugins=[plugin])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(lambda: "task-a", name="greet")

    async with LocalRunner(workflow) as runner:
        await runner.run()
    changes = [info for hook, info in plugin.infos if hook == "operation-change"]
    succeeded = [
        (updated, full)
        for updated, full in changes
        for op in updated.values()
        if op.name == "greet" and op.status == "SUCCEEDED"
    ]
    ((updated, full),) = succeeded
    assert set(updated) <= set(full)
    (step,) = updated.values()
    assert step.result == '"task-a"' and step.attempt == 1 and step.error is None
    assert step.start_time is not None and step.end_time is not None


async def test_infos_carry_results_errors_and_invocation_fields() -> None:
    plugin = Everything()

    @durable_execution(plugins=[plugin])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        def boom() -> str:
            raise RuntimeError("boom")

        await ctx.step(lambda: "task-a", name="a")
        return await ctx.step(boom, name="b", retry=RetryStrategy.no_retry())

    async with LocalRunner(workflow) as runner:
        result = await runner.run()
    assert result.status == "FAILED"
    (a,) = plugin.of("operation-end", name="a")
    (b,) = plugin.of("operation-end", name="b")
    assert (a.status, a.result, a.error) == ("SUCCEEDED", '"task-a"', None)
    assert (b.status, b.result, b.error.error_message) == ("FAILED", None, "boom")
    (start,) = plugin.of("invocation-start")
    (end,) = plugin.of("invocation-end")
    assert start.is_first_invocation and start.request_id
    assert start.execution_start_time is not None
    assert (end.status, end.error.error_message) == ("FAILED", "boom")
    assert end.request_id == start.request_id and end.is_first_invocation
    assert {a.operation_id, b.operation_id} <= set(end.operations)


async def test_flat_branches_report_their_functions_and_their_end() -> None:
    plugin = Everything()

    @durable_execution(plugins=[plugin])
    async def workflow(event: Any, ctx: DurableContext) -> list[int | None]:
        async def double(item_ctx: DurableContext, item: int, index: int) -> int:
            return item * 2

        result = await ctx.map([1, 2], double, name="doubles", nesting=Nesting.FLAT)
        return result.get_results()

    async with LocalRunner(workflow) as runner:
        result = await runner.run()
    assert result.result == [2, 4]
    ends = plugin.of("operation-end", sub_type="MapIteration")
    assert [e.status for e in ends] == ["SUCCEEDED", "SUCCEEDED"]
    assert len(plugin.of("fn-end", sub_type="MapIteration", outcome="SUCCEEDED")) == 2


async def test_without_plugins_the_runtime_builds_no_info() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(lambda: "x")

    async with LocalRunner(workflow) as runner:
        result = await runner.run()
    assert result.result == "x"
    assert workflow.plugins.wants("on_operation_start") is False


async def test_a_callback_answered_while_suspended_ends_with_its_result_on_replay() -> None:
    plugin = Everything()

    @durable_execution(plugins=[plugin])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        callback = await ctx.create_callback(name="approval", result_type=str)
        return await callback.result()

    async with LocalRunner(workflow) as runner:
        run = await runner.start()
        await run.callback_started("approval")
        assert plugin.of("operation-end", name="approval") == []
        run.complete_callback("approval", "yes")
        result = await run.wait()
    assert result.result == "yes"
    (end,) = plugin.of("operation-end", name="approval")
    assert (end.operation_type, end.sub_type, end.result) == ("CALLBACK", "Callback", '"yes"')
    (replay_start,) = plugin.of("invocation-start", is_first_invocation=False)
    assert end.operation_id in replay_start.updated_operations


async def test_user_function_hooks_run_in_the_thread_of_a_sync_step() -> None:
    threads: dict[str, int] = {}

    class ThreadProbe(Plugin):
        def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
            threads["start"] = threading.get_ident()

        def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
            threads["end"] = threading.get_ident()

    def work() -> str:
        threads["step"] = threading.get_ident()
        return "done"

    @durable_execution(plugins=[ThreadProbe()])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(work)

    async with LocalRunner(workflow) as runner:
        assert (await runner.run()).result == "done"
    assert threads["start"] == threads["step"] == threads["end"]
    assert threads["step"] != threading.get_ident()  # a worker thread, not the loop's


async def test_an_invocation_that_fails_ends_with_retry_and_the_execution_goes_on() -> None:
    recorder = Recorder()
    exits = [True]  # the first invocation's process exits after the step

    @durable_execution(plugins=[recorder])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        await ctx.step(lambda: "a", name="a")
        if exits and exits.pop():
            raise SystemExit(1)
        return "done"

    async with LocalRunner(workflow) as runner:
        result = await runner.run()

    assert result.result == "done"
    ends = [info for info in recorder.infos if isinstance(info, InvocationEndInfo)]
    assert [end.status for end in ends] == [InvocationEndStatus.RETRY, "SUCCEEDED"]
    assert ends[0].error is not None
    assert ends[0].error.error_type == "aiodurable.errors.InvocationExitError"
    assert ends[1].error is None
