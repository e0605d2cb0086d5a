"""asyncio's own concurrency keeps the durability contract.

Every construct asyncio (and anyio) offers for running coroutines side by side runs a
step whose body does real I/O (a loopback TCP round trip) beside each kind of durable
operation. The invocation must never suspend while the body runs: the at-most-once step
runs once, its one attempt succeeds, and the execution succeeds with the right result
and the expected number of invocations — on LocalRunner and over HTTP (the runtime's
Lambda client against the local backend's HTTP server).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest

from aiodurable import (
    DurableContext,
    RetryDecision,
    StepContext,
    StepSemantics,
    UnfinishedOperationError,
    WaitDecision,
    durable_execution,
)
from aiodurable.local.history import EventType
from aiodurable.local.http import LocalHttpServer
from aiodurable.service.lambda_client import LambdaServiceClient
from aiodurable.testing import LocalRunner
from aiodurable.wire import OperationStatus
from tests.service_harness import ServiceHarness, drive

# -- the I/O a step body does ------------------------------------------------------------
ECHO_PORT: list[int] = []
RUNS: dict[str, list[int]] = {}


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.readline()
    await asyncio.sleep(0.02)  # a slow downstream
    writer.write(data)
    await writer.drain()
    writer.close()


@pytest.fixture
async def echo_server() -> AsyncIterator[None]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    ECHO_PORT[:] = [server.sockets[0].getsockname()[1]]
    RUNS.clear()
    async with server:
        yield
    server.close()


async def io_step(label: str) -> str:
    """Counts its runs with their attempt numbers, then does a real round trip."""
    RUNS.setdefault(label, []).append(StepContext.current().attempt)
    reader, writer = await asyncio.open_connection("127.0.0.1", ECHO_PORT[0])
    writer.write(f"{label}\n".encode())
    await writer.drain()
    answer = (await reader.readline()).decode().strip()
    writer.close()
    await writer.wait_closed()
    return answer


async def charge(c: DurableContext) -> str:
    """What is under test: an at-most-once step doing I/O (a payment), then a second step
    in the same task, which must start although everything else is parked by then."""
    paid = await c.step(
        io_step, "charge", name="charge", semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
    )
    await c.step(io_step, "receipt", name="receipt")
    return paid


# -- what runs beside it -------------------------------------------------------------------
async def _wait(c: DurableContext) -> str:
    await c.wait(30, name="cool-off")
    return "waited"


async def _callback(c: DurableContext) -> str:
    callback = await c.create_callback(name="approval", result_type=str)
    return await callback.result()


async def _poll(state: int) -> int:
    return state + 1


async def _condition(c: DurableContext) -> str:
    state = await c.wait_for_condition(
        _poll,
        initial_state=0,
        wait_strategy=lambda s, attempt: WaitDecision(s < 2, 5),
        name="poll",
    )
    return f"polled {state}"


async def _invoke(c: DurableContext) -> str:
    return str(await c.invoke("pricing", {"sku": "a"}, name="price"))


async def _at_most_once(c: DurableContext) -> str:
    return await c.step(
        io_step, "ship", name="ship", semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
    )


async def _at_least_once(c: DurableContext) -> str:
    return await c.step(io_step, "email", name="email")


async def _child(c: DurableContext) -> str:
    async def body(child: DurableContext) -> str:
        await child.wait(10, name="inner-wait")
        return await child.step(io_step, "inner", name="inner")

    return await c.run_in_child_context(body, name="child")


SIBLINGS: dict[str, tuple[Callable[[DurableContext], Awaitable[str]], str, set[int]]] = {
    # name: (operation, its result, the invocations the execution may take). A callback
    # answered, or an invoke completed, while the step body still runs reaches the parked
    # operation with the step's own checkpoint: no second invocation is needed.
    "wait": (_wait, "waited", {2}),
    "callback": (_callback, "approved", {1, 2}),
    "wait_for_condition": (_condition, "polled 2", {2, 3}),
    "invoke": (_invoke, "42", {1, 2}),
    "at-most-once step": (_at_most_once, "ship", {1}),
    "at-least-once step": (_at_least_once, "email", {1}),
    "child context": (_child, "inner", {2}),
}


# -- the constructs -------------------------------------------------------------------------
Pair = Callable[[DurableContext], Awaitable[tuple[str, str]]]


def gather(sibling: Callable[[DurableContext], Awaitable[str]]) -> Pair:
    async def run(c: DurableContext) -> tuple[str, str]:
        a, b = await asyncio.gather(charge(c), sibling(c))
        return a, b

    return run


def task_group(sibling: Callable[[DurableContext], Awaitable[str]]) -> Pair:
    async def run(c: DurableContext) -> tuple[str, str]:
        async with asyncio.TaskGroup() as group:
            b = group.create_task(sibling(c))
            a = group.create_task(charge(c))
        return a.result(), b.result()

    return run


def create_task(sibling: Callable[[DurableContext], Awaitable[str]]) -> Pair:
    async def run(c: DurableContext) -> tuple[str, str]:
        a = asyncio.create_task(charge(c))
        b = asyncio.create_task(sibling(c))
        return await a, await b

    return run


def wait_all(sibling: Callable[[DurableContext], Awaitable[str]]) -> Pair:
    async def run(c: DurableContext) -> tuple[str, str]:
        a = asyncio.create_task(charge(c))
        b = asyncio.create_task(sibling(c))
        _, pending = await asyncio.wait({a, b})
        assert not pending
        return a.result(), b.result()

    return run


def as_completed(sibling: Callable[[DurableContext], Awaitable[str]]) -> Pair:
    async def run(c: DurableContext) -> tuple[str, str]:
        a = asyncio.ensure_future(charge(c))
        b = asyncio.ensure_future(sibling(c))
        for next_done in asyncio.as_completed([a, b]):
            await next_done
        return a.result(), b.result()

    return run


def anyio_group(sibling: Callable[[DurableContext], Awaitable[str]]) -> Pair:
    async def run(c: DurableContext) -> tuple[str, str]:
        results: dict[str, str] = {}

        async def keep(key: str, work: Callable[[DurableContext], Awaitable[str]]) -> None:
            results[key] = await work(c)

        async with anyio.create_task_group() as group:
            group.start_soon(keep, "a", charge)
            group.start_soon(keep, "b", sibling)
        return results["a"], results["b"]

    return run


def nested(sibling: Callable[[DurableContext], Awaitable[str]]) -> Pair:
    """gather inside a TaskGroup inside a child context."""

    async def run(c: DurableContext) -> tuple[str, str]:
        async def body(child: DurableContext) -> list[str]:
            async with asyncio.TaskGroup() as group:
                pair = group.create_task(gather(sibling)(child))
            return list(pair.result())

        a, b = await c.run_in_child_context(body, name="nest")
        return a, b

    return run


def in_map_item(sibling: Callable[[DurableContext], Awaitable[str]]) -> Pair:
    async def run(c: DurableContext) -> tuple[str, str]:
        async def item(child: DurableContext, _: int, index: int) -> list[str]:
            return list(await task_group(sibling)(child))

        result = await c.map([0], item, name="items")
        a, b = result.get_results()[0]
        return a, b

    return run


def in_parallel_branch(sibling: Callable[[DurableContext], Awaitable[str]]) -> Pair:
    async def run(c: DurableContext) -> tuple[str, str]:
        async def branch(child: DurableContext) -> list[str]:
            return list(await create_task(sibling)(child))

        result = await c.parallel([branch], name="branches")
        a, b = result.get_results()[0]
        return a, b

    return run


CONSTRUCTS = {
    "gather": gather,
    "TaskGroup": task_group,
    "create_task": create_task,
    "asyncio.wait": wait_all,
    "as_completed": as_completed,
    "anyio task group": anyio_group,
    "nested": nested,
    "map item": in_map_item,
    "parallel branch": in_parallel_branch,
}


def workflow_for(construct: str, sibling: str) -> Any:
    pair = CONSTRUCTS[construct](SIBLINGS[sibling][0])

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> list[str]:
        a, b = await pair(ctx)
        return [a, b]

    return workflow


@durable_execution
async def pricing(event: dict[str, str], ctx: DurableContext) -> int:
    return await ctx.step(_price, event["sku"], name="lookup")


async def _price(sku: str) -> int:
    await asyncio.sleep(0.01)
    return 42


class OverHttp:
    """A durable handler whose runtime checkpoints through HTTP, as on Lambda."""

    def __init__(self, handler: Any, client: LambdaServiceClient) -> None:
        self.handler, self.client = handler, client

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        return await self.handler.run(event, client=self.client)


@contextlib.asynccontextmanager
async def runner_for(
    workflow: Any, transport: str, *, answers: bool = False
) -> AsyncIterator[LocalRunner[Any]]:
    async with LocalRunner(workflow, functions={"pricing": pricing}) as runner:
        if answers:
            runner.on_callback("approval", "approved")
        if transport == "local":
            yield runner
            return
        async with (
            LocalHttpServer(runner.backend, port=0) as server,
            await LambdaServiceClient.create(
                region_name="us-east-1", endpoint_url=server.endpoint_url
            ) as client,
        ):
            runner.register(runner.function_name, OverHttp(workflow, client))
            runner.register("pricing", OverHttp(pricing, client))
            yield runner


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")


@pytest.mark.usefixtures("echo_server", "credentials")
@pytest.mark.parametrize("transport", ["local", "http"])
@pytest.mark.parametrize("sibling", list(SIBLINGS))
@pytest.mark.parametrize("construct", list(CONSTRUCTS))
async def test_a_step_doing_io_beside_a_durable_operation_runs_once(
    construct: str, sibling: str, transport: str
) -> None:
    workflow = workflow_for(construct, sibling)
    async with runner_for(workflow, transport, answers=sibling == "callback") as runner:
        result = await runner.run()
        history = runner.backend.history(result.arn)

    _, expected, invocations = SIBLINGS[sibling]
    assert result.status == "SUCCEEDED", result.error
    assert result.result == ["charge", expected]
    # The payment ran once, as attempt 1, the receipt after it, and nothing ran twice.
    assert RUNS["charge"] == [1]
    assert RUNS["receipt"] == [1]
    assert all(attempts == [1] for attempts in RUNS.values()), RUNS
    completed = [e for e in history if e.event_type is EventType.INVOCATION_COMPLETED]
    assert len(completed) in invocations


# -- cancellation and operations left behind ----------------------------------------------
class Declined(Exception):
    pass


async def declined(_: str) -> str:
    await asyncio.sleep(0.005)
    raise Declined("card declined")


@pytest.mark.usefixtures("echo_server")
async def test_a_step_cancelled_by_a_failing_task_group_sibling_is_recorded_and_not_rerun() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    ctx.step(
                        io_step,
                        "slow",
                        name="slow",
                        semantics=StepSemantics.AT_LEAST_ONCE_PER_RETRY,
                    )
                )
                group.create_task(ctx.step(declined, "x", name="decline", retry=_no_retry))
        except* Exception as failures:
            reason = type(failures.exceptions[0]).__name__
        await ctx.wait(60, name="after")  # replays everything above
        return reason

    async with LocalRunner(workflow) as runner:
        result = await runner.run()

    assert result.status == "SUCCEEDED", result.error
    assert result.result == "StepError"
    slow = result.step("slow")
    assert slow.status == "FAILED"
    assert slow.error is not None and slow.error.error_type == "asyncio.CancelledError"
    assert RUNS["slow"] == [1]  # cancelled once, not run again by the replay


async def test_an_invocation_its_caller_cancels_mid_step_records_no_outcome_for_the_step() -> None:
    # Ctrl-C, or a service shutting down: the body was cut short by the invocation's end,
    # not cancelled by the workflow, so the next invocation runs the attempt again.
    started = asyncio.Event()
    runs: list[str] = []

    async def slow(_: str) -> str:
        runs.append("slow")
        if len(runs) == 1:
            started.set()
            await asyncio.sleep(3600)
        return "done"

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(slow, "x", name="cut-short")

    service = ServiceHarness()
    arn = service.start()
    invocation = asyncio.create_task(workflow.run(service.event(arn), client=service))
    await started.wait()
    invocation.cancel()
    with pytest.raises(asyncio.CancelledError):
        await invocation
    [op] = [op for op in service.operations(arn) if op.name == "cut-short"]
    assert op.status is OperationStatus.STARTED  # no FAIL "cancelled by the workflow"

    [output] = await drive(workflow, service, arn)
    assert output["Status"] == "SUCCEEDED" and output["Result"] == '"done"'
    assert runs == ["slow", "slow"]


def _no_retry(error: Exception, attempt: int) -> RetryDecision:
    return RetryDecision(should_retry=False)


async def test_an_operation_never_awaited_fails_the_execution_naming_it() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        forgotten = ctx.wait(60, name="forgotten")
        del forgotten
        return "done"

    async with LocalRunner(workflow) as runner:
        result = await runner.run()

    assert result.status == "FAILED"
    assert result.error is not None
    assert result.error.error_type == f"aiodurable.errors.{UnfinishedOperationError.__name__}"
    assert "wait 'forgotten'" in (result.error.error_message or "")


async def test_a_task_left_running_with_a_step_fails_the_execution_naming_it() -> None:
    started = asyncio.Event()

    async def hangs(_: str) -> str:
        started.set()
        await asyncio.sleep(3600)
        return "never"

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        task = asyncio.create_task(ctx.step(hangs, "x", name="left-behind"))
        task.add_done_callback(lambda _: None)
        await started.wait()
        return "done"

    async with LocalRunner(workflow) as runner:
        result = await runner.run()

    assert result.status == "FAILED"
    assert result.error is not None
    assert "step 'left-behind'" in (result.error.error_message or "")


async def test_a_task_left_running_inside_an_async_generator_fails_the_execution_naming_it() -> (
    None
):
    # The operation sits below an async generator, where a task's chain of awaits cannot
    # be followed: the scheduler still knows which operation the task is inside.
    started = asyncio.Event()

    async def hangs(_: str) -> str:
        started.set()
        await asyncio.sleep(3600)
        return "never"

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        async def results() -> AsyncIterator[str]:
            yield await ctx.step(hangs, "x", name="in-a-generator")

        async def consume() -> None:
            async for _ in results():
                pass

        task = asyncio.create_task(consume())
        task.add_done_callback(lambda _: None)
        await started.wait()
        return "done"

    async with LocalRunner(workflow) as runner:
        result = await runner.run()

    assert result.status == "FAILED"
    assert result.error is not None
    assert "step 'in-a-generator'" in (result.error.error_message or "")


async def test_a_task_without_operations_left_running_is_cancelled_quietly() -> None:
    cancelled = asyncio.Event()

    async def ticker() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        task = asyncio.create_task(ticker())
        task.add_done_callback(lambda _: None)
        await asyncio.sleep(0)
        return "done"

    async with LocalRunner(workflow) as runner:
        result = await runner.run()

    assert result.status == "SUCCEEDED"
    assert cancelled.is_set()
