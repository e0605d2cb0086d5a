"""``RemoteRunner`` drives a function through the Lambda API — here ``aiodurable serve``'s
HTTP server as the endpoint, with botocore's client — and returns what ``LocalRunner``
returns for the same workflow: status, typed result, operations, attempts, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from aiodurable import (
    CompletionConfig,
    DurableContext,
    RetryStrategy,
    StepError,
    durable_execution,
)
from aiodurable.local import LocalBackend, VirtualClock
from aiodurable.local.http import LocalHttpServer
from aiodurable.testing import LocalRunner, RemoteRunner
from aiodurable.testing.views import OperationView


class Receipt(msgspec.Struct):
    order_id: str
    charged: list[int]
    approval: str
    note: str


flaky_calls: dict[str, int] = {}


def flaky(order_id: str) -> str:
    flaky_calls[order_id] = flaky_calls.get(order_id, 0) + 1
    if flaky_calls[order_id] == 1:
        raise ConnectionError("payment gateway timed out")
    return f"reserved-{order_id}"


def refuse() -> None:
    raise LookupError("no coupon")


async def charge(ctx: DurableContext, amount: int, index: int) -> int:
    return await ctx.step(lambda: amount * 100, name=f"charge-{index}")


@durable_execution
async def order(event: dict[str, Any], ctx: DurableContext) -> Receipt:
    order_id = event["order_id"]
    await ctx.step(
        flaky, order_id, name="reserve", retry=RetryStrategy(max_attempts=3, initial_delay=1)
    )
    charged = await ctx.map(
        event["amounts"], charge, name="charges", completion=CompletionConfig.all_completed()
    )
    await ctx.wait(timedelta(seconds=2), name="cool-off")
    approval: str = await ctx.wait_for_callback(
        lambda callback_id: None, name="approval", result_type=str
    )
    try:
        await ctx.step(refuse, name="coupon", retry=RetryStrategy.no_retry())
        note = "coupon"
    except StepError as exc:
        note = exc.message

    async def summary(child: DurableContext) -> str:
        return await ctx.step(lambda: "ok", name="summarize")

    await ctx.run_in_child_context(summary, name="summary")
    return Receipt(order_id, [c for c in charged.get_results() if c is not None], approval, note)


async def check_order(runner: Any) -> tuple[Any, list[tuple[Any, ...]]]:
    """The test body, written once: the same lines run on either runner."""
    runner.on_callback("approval create callback id", "approved by sam")
    result = await runner.run({"order_id": "o-7", "amounts": [3, 4]})
    assert result.status == "SUCCEEDED", result.error
    assert result.result == Receipt("o-7", [300, 400], "approved by sam", "no coupon")
    assert result.step("reserve").attempts == 2
    assert result.step("coupon").error.error_type == "LookupError"
    return result, [_summary(view) for view in result.operations]


def _summary(view: OperationView) -> tuple[Any, ...]:
    error = view.error
    return (
        view.id,
        view.name,
        view.type,
        view.sub_type,
        view.parent_id,
        view.status,
        view.attempts,
        view.result,
        (error.error_type, error.error_message) if error else None,
        view.callback_id is not None,
    )


def _operation_events(result: Any) -> list[tuple[str, str, str]]:
    return [
        (str(e.event_type), e.id or "", e.name or "")
        for e in result.history
        if e.event_type != "InvocationCompleted"
    ]


@pytest.fixture
async def served() -> AsyncIterator[str]:
    """``aiodurable serve``'s HTTP server with the function registered; its URL."""
    backend = LocalBackend(clock=VirtualClock(), functions={"orders": order})
    async with backend, LocalHttpServer(backend, port=0) as server:
        yield server.endpoint_url


def remote(endpoint: str, **options: Any) -> RemoteRunner[Receipt]:
    return RemoteRunner(
        "orders",
        handler=order,
        endpoint_url=endpoint,
        region_name="us-east-1",
        poll_interval=0.2,
        timeout=60,
        client_options={"aws_access_key_id": "local", "aws_secret_access_key": "local"},
        **options,
    )


async def test_the_remote_runner_returns_what_the_local_runner_returns(served: str) -> None:
    flaky_calls.clear()
    async with LocalRunner(order) as local_runner:
        local, local_ops = await check_order(local_runner)
    flaky_calls.clear()
    async with remote(served) as remote_runner:
        far, far_ops = await check_order(remote_runner)

    assert far.result == local.result
    assert far_ops == local_ops  # every operation, field for field (callback ids aside)
    # The same operation events (concurrent map items may interleave differently);
    # invocations may differ in number: the local runner answers a callback as it
    # starts, a remote one when its poll sees it.
    assert sorted(_operation_events(far)) == sorted(_operation_events(local))
    assert far.invocations >= local.invocations


async def test_a_test_can_drive_callbacks_and_read_progress_by_hand(served: str) -> None:
    flaky_calls.clear()
    async with remote(served) as runner:
        run = await runner.start({"order_id": "o-8", "amounts": [1]}, name="by-hand")
        callback = await run.callback_started("approval create callback id")
        assert run.step("reserve").attempts == 2  # what the poll read on the way
        assert run.operation("cool-off").status == "SUCCEEDED"
        await run.complete_callback(callback.callback_id or "", "ok")
        result = await run.wait()

    assert result.status == "SUCCEEDED"
    assert result.result is not None and result.result.approval == "ok"
    assert result.info.name == "by-hand"
    assert result.info.function_name == "orders"


async def test_a_failed_callback_and_a_stop_reach_the_execution(served: str) -> None:
    flaky_calls.clear()
    async with remote(served) as runner:
        runner.on_callback("approval create callback id", _refuse_approval)
        failed = await runner.run({"order_id": "o-9", "amounts": []})

        stopped_run = await runner.start({"order_id": "o-10", "amounts": []})
        await stopped_run.callback_started()
        await stopped_run.stop("cancelled by the test")
        stopped = await stopped_run.wait()

    assert failed.status == "FAILED"
    assert failed.error is not None and "not today" in (failed.error.error_message or "")
    assert stopped.status == "STOPPED"


def _refuse_approval(request: Any) -> None:
    raise PermissionError("not today")


async def test_a_function_that_is_not_there_is_a_clear_error(served: str) -> None:
    from botocore.exceptions import ClientError

    async with RemoteRunner(
        "no-such-function",
        endpoint_url=served,
        region_name="us-east-1",
        client_options={"aws_access_key_id": "local", "aws_secret_access_key": "local"},
    ) as runner:
        with pytest.raises(ClientError, match="ResourceNotFound"):
            await runner.run({})
