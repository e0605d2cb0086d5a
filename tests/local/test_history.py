"""The history the backend records has the shapes AWS's conformance suite expects
(docs/protocol.md §8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiodurable import DurableContext, RetryStrategy, durable_execution
from aiodurable.local.encoding import to_api_json
from aiodurable.testing import LocalRunner, RunResult

ANY = object()


def matches(expected: Any, actual: Any) -> bool:
    """CONF-style: listed keys must exist and match; ``ANY`` matches any present value."""
    if expected is ANY:
        return True
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


def assert_history(run: RunResult[Any], expected: list[dict[str, Any]]) -> None:
    events = to_api_json(run.history)
    assert events[0]["EventType"] == "ExecutionStarted"
    assert [e["EventId"] for e in events] == list(range(1, len(events) + 1))
    shown = "\n".join(str(e) for e in events)
    for want in expected:
        actual = events[want["EventId"] - 1]
        assert matches(want, actual), f"expected {want}\nin history:\n{shown}"
    assert len(events) == expected[-1]["EventId"], shown


async def test_a_step_that_always_fails_records_each_attempt() -> None:  # CONF 1-12
    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> None:
        def always_fail() -> None:
            raise RuntimeError("nope")

        await ctx.step(always_fail, retry=RetryStrategy.fixed(1, max_attempts=4))

    async with LocalRunner(handler) as runner:
        run = await runner.run()

    assert run.status == "FAILED"
    expected: list[dict[str, Any]] = []
    for attempt in range(1, 5):
        base = 3 * attempt - 1
        retry: dict[str, Any] = {"CurrentAttempt": attempt}
        if attempt < 4:
            retry["NextAttemptDelaySeconds"] = 1
        expected += [
            {
                "EventType": "StepStarted",
                "SubType": "Step",
                "EventId": base,
                "Id": ANY,
                "StepStartedDetails": {},
            },
            {
                "EventType": "StepFailed",
                "SubType": "Step",
                "EventId": base + 1,
                "StepFailedDetails": {
                    "Error": {"Payload": {"ErrorType": "RuntimeError"}},
                    "RetryDetails": retry,
                },
            },
            {
                "EventType": "InvocationCompleted",
                "EventId": base + 2,
                "InvocationCompletedDetails": {
                    "StartTimestamp": ANY,
                    "EndTimestamp": ANY,
                    "RequestId": ANY,
                },
            },
        ]
    expected.append(
        {
            "EventType": "ExecutionFailed",
            "EventId": 14,
            "ExecutionFailedDetails": {"Error": {"Payload": ANY, "Truncated": False}},
        }
    )
    assert_history(run, expected)
    assert (
        "NextAttemptDelaySeconds"
        not in to_api_json(run.history)[11]["StepFailedDetails"]["RetryDetails"]
    )


async def test_a_wait_records_its_duration_and_end() -> None:  # CONF 2-1
    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        await ctx.wait(2)
        return "done"

    async with LocalRunner(handler) as runner:
        run = await runner.run()

    started = to_api_json(run.history)[1]
    assert started["WaitStartedDetails"]["ScheduledEndTimestamp"] == started["EventTimestamp"] + 2
    assert_history(
        run,
        [
            {
                "EventType": "WaitStarted",
                "SubType": "Wait",
                "EventId": 2,
                "WaitStartedDetails": {"Duration": 2},
            },
            {"EventType": "InvocationCompleted", "EventId": 3, "InvocationCompletedDetails": {}},
            {
                "EventType": "WaitSucceeded",
                "SubType": "Wait",
                "EventId": 4,
                "WaitSucceededDetails": {"Duration": 2},
            },
            {"EventType": "InvocationCompleted", "EventId": 5},
            {
                "EventType": "ExecutionSucceeded",
                "EventId": 6,
                "ExecutionSucceededDetails": {"Result": {"Payload": '"done"', "Truncated": False}},
            },
        ],
    )


async def test_a_callback_records_its_id_timeouts_and_raw_result() -> None:  # CONF 4-1, 4-3
    @durable_execution
    async def handler(event: str, ctx: DurableContext) -> str:
        callback = await ctx.create_callback(name=event, timeout=5, heartbeat_timeout=3)
        return str(await callback.result())

    async with LocalRunner(handler) as runner:
        run = await runner.start("cb-name")
        await run.callback_started("cb-name")
        run.complete_callback("cb-name", "payload")
        result = await run.wait()

    assert_history(
        result,
        [
            {
                "EventType": "CallbackStarted",
                "SubType": "Callback",
                "EventId": 2,
                "Name": "cb-name",
                "CallbackStartedDetails": {"CallbackId": ANY, "Timeout": 5, "HeartbeatTimeout": 3},
            },
            {"EventType": "InvocationCompleted", "EventId": 3},
            {
                "EventType": "CallbackSucceeded",
                "EventId": 4,
                "Name": "cb-name",
                "CallbackSucceededDetails": {"Result": {"Payload": '"payload"'}},
            },
            {"EventType": "InvocationCompleted", "EventId": 5},
            {"EventType": "ExecutionSucceeded", "EventId": 6},
        ],
    )


async def test_a_timed_out_callback_records_the_timeout_error() -> None:  # CONF 4-3
    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        callback = await ctx.create_callback(name="cb", timeout=5)
        return str(await callback.result())

    async with LocalRunner(handler) as runner:
        run = await runner.run()

    assert_history(
        run,
        [
            {
                "EventType": "CallbackStarted",
                "EventId": 2,
                "CallbackStartedDetails": {"Timeout": 5},
            },
            {"EventType": "InvocationCompleted", "EventId": 3},
            {
                "EventType": "CallbackTimedOut",
                "EventId": 4,
                "Name": "cb",
                "CallbackTimedOutDetails": {
                    "Error": {"Payload": {"ErrorType": "Callback.Timeout"}}
                },
            },
            {"EventType": "InvocationCompleted", "EventId": 5},
            {"EventType": "ExecutionFailed", "EventId": 6},
        ],
    )


async def test_a_chained_invoke_records_target_input_and_result() -> None:  # CONF 5-1, 5-8
    @durable_execution
    async def echo(event: Any, ctx: DurableContext) -> Any:
        return event

    @durable_execution
    async def handler(event: dict[str, str], ctx: DurableContext) -> Any:
        return await ctx.invoke("echo", event["payload"], tenant_id=event["tenantId"])

    async with LocalRunner(handler, functions={"echo": echo}) as runner:
        run = await runner.run({"tenantId": "t-1", "payload": "hello"})

    assert run.result == "hello"
    assert_history(
        run,
        [
            {
                "EventType": "ChainedInvokeStarted",
                "EventId": 2,
                "Id": ANY,
                "ChainedInvokeStartedDetails": {
                    "FunctionName": "echo",
                    "TenantId": "t-1",
                    "Input": {"Payload": '"hello"'},
                    "ExecutedVersion": ANY,
                    "DurableExecutionArn": ANY,
                },
            },
            {"EventType": "InvocationCompleted", "EventId": 3},
            {
                "EventType": "ChainedInvokeSucceeded",
                "EventId": 4,
                "ChainedInvokeSucceededDetails": {"Result": {"Payload": '"hello"'}},
            },
            {"EventType": "InvocationCompleted", "EventId": 5},
            {"EventType": "ExecutionSucceeded", "EventId": 6},
        ],
    )


async def test_a_child_context_records_parent_ids() -> None:  # CONF 3-x
    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> int:
        async def body(child: DurableContext) -> int:
            return await child.step(lambda: 7, name="inner")

        return await ctx.run_in_child_context(body, name="outer")

    async with LocalRunner(handler) as runner:
        run = await runner.run()

    outer = run.operation("outer").id
    assert_history(
        run,
        [
            {
                "EventType": "ContextStarted",
                "SubType": "RunInChildContext",
                "EventId": 2,
                "Name": "outer",
                "ContextStartedDetails": {},
            },
            {"EventType": "StepStarted", "EventId": 3, "ParentId": outer, "Name": "inner"},
            {
                "EventType": "StepSucceeded",
                "EventId": 4,
                "ParentId": outer,
                "StepSucceededDetails": {
                    "Result": {"Payload": "7"},
                    "RetryDetails": {"CurrentAttempt": 1},
                },
            },
            {
                "EventType": "ContextSucceeded",
                "EventId": 5,
                "Name": "outer",
                "ContextSucceededDetails": {"Result": {"Payload": "7"}},
            },
            {"EventType": "InvocationCompleted", "EventId": 6},
            {"EventType": "ExecutionSucceeded", "EventId": 7},
        ],
    )


async def test_a_sequential_map_records_each_iteration_under_the_map() -> None:  # CONF 8-x
    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> list[int]:
        async def double(child: DurableContext, item: int, index: int) -> int:
            return await child.step(lambda: item * 2, name=f"double-{index}")

        batch = await ctx.map([1, 2], double, name="doubles", max_concurrency=1)
        return list(batch.get_results())

    async with LocalRunner(handler) as runner:
        run = await runner.run()

    assert run.result == [2, 4]
    m = run.operation("doubles").id
    assert_history(
        run,
        [
            {"EventType": "ContextStarted", "SubType": "Map", "EventId": 2, "Id": m},
            {"EventType": "ContextStarted", "SubType": "MapIteration", "EventId": 3, "ParentId": m},
            {"EventType": "StepStarted", "EventId": 4},
            {"EventType": "StepSucceeded", "EventId": 5},
            {
                "EventType": "ContextSucceeded",
                "SubType": "MapIteration",
                "EventId": 6,
                "ParentId": m,
            },
            {"EventType": "ContextStarted", "SubType": "MapIteration", "EventId": 7, "ParentId": m},
            {"EventType": "StepStarted", "EventId": 8},
            {"EventType": "StepSucceeded", "EventId": 9},
            {"EventType": "ContextSucceeded", "SubType": "MapIteration", "EventId": 10},
            {"EventType": "ContextSucceeded", "SubType": "Map", "EventId": 11, "Id": m},
            {"EventType": "InvocationCompleted", "EventId": 12},
            {"EventType": "ExecutionSucceeded", "EventId": 13},
        ],
    )


async def test_replay_check_mode_replays_after_every_recorded_outcome() -> None:
    runs: list[str] = []

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        runs.append("top")
        a = await ctx.step(lambda: "a", name="a")
        b = await ctx.step(lambda: "b", name="b")
        await ctx.wait(timedelta(hours=1), name="nap")
        return a + b

    async with LocalRunner(handler, replay_check=True) as runner:
        run = await runner.run()

    assert run.result == "ab"
    # Each outcome ends an invocation: after a, after b, after the wait started (the
    # replay that follows suspends on it), and once it ended.
    assert run.invocations == 5
    assert len(runs) == 5
    assert [s.attempts for s in (run.step("a"), run.step("b"))] == [1, 1]


async def test_replay_check_mode_catches_a_non_deterministic_workflow() -> None:
    import itertools

    counter = itertools.count()

    @durable_execution
    async def handler(event: Any, ctx: DurableContext) -> str:
        # The step name changes between invocations: a classic non-determinism bug.
        await ctx.step(lambda: 1, name=f"step-{next(counter)}")
        await ctx.step(lambda: 2, name="second")
        return "ok"

    async with LocalRunner(handler, replay_check=True) as runner:
        run = await runner.run()

    assert run.status == "FAILED"
    assert run.error is not None
    assert run.error.error_type == "aiodurable.errors.NonDeterministicError"
