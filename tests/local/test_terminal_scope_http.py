"""Terminal scopes, sagas and step timeouts with the runtime checkpointing over HTTP
(``LambdaServiceClient`` against ``LocalHttpServer``), as it does against Lambda."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from examples import saga

from aiodurable import (
    DurableContext,
    RetryStrategy,
    StepContext,
    TerminalScopeError,
    durable_execution,
)
from aiodurable.local import LocalBackend, VirtualClock
from aiodurable.local.http import LocalHttpServer
from aiodurable.service.lambda_client import LambdaServiceClient
from aiodurable.wire import OperationStatus


class OverHttp:
    """A handler whose runtime talks to the backend through HTTP."""

    def __init__(self, handler: Any, client: LambdaServiceClient) -> None:
        self.handler = handler
        self.client = client

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        return await self.handler.run(event, client=self.client)


@pytest.fixture
async def over_http(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[LocalBackend, LambdaServiceClient]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    async with (
        LocalBackend(clock=VirtualClock()) as backend,
        LocalHttpServer(backend, port=0) as server,
    ):
        client = await LambdaServiceClient.create(
            region_name="us-east-1", endpoint_url=server.endpoint_url
        )
        try:
            yield backend, client
        finally:
            await client.close()


async def test_the_saga_example_rolls_back_over_http(
    over_http: tuple[LocalBackend, LambdaServiceClient],
) -> None:
    backend, client = over_http
    backend.register("checkout", OverHttp(saga.handler, client))

    info = backend.start_execution(
        "checkout", '{"order_id": "o-9", "amount": 12, "fail_at": "ship"}'
    )
    info = await backend.wait_for_completion(info.arn)

    assert msgspec.json.decode(info.result or "") == {
        "order_id": "o-9",
        "status": "rolled-back",
        "tracking": None,
        "error": "ship refused for o-9",
    }
    ops = backend.operations(info.arn)
    scope = next(op for op in ops if op.name == "checkout")
    assert scope.sub_type == "Saga" and scope.status is OperationStatus.SUCCEEDED
    assert [op.name for op in ops if op.parent_id == scope.id] == [
        "refund",
        "release_stock",
        "unlock_cart",
    ]


async def slow_first_attempt() -> str:
    if StepContext.current().attempt == 1:
        await asyncio.Event().wait()
    return "quoted"


async def undo(label: str) -> str:
    if label == "broken":
        raise ConnectionError("undo service down")
    return label


@durable_execution
async def timed_and_scoped(event: Any, ctx: DurableContext) -> str:
    quote = await ctx.step(
        slow_first_attempt, name="quote", timeout=0.05, retry=RetryStrategy(initial_delay=1)
    )
    async with ctx.terminal_scope("booking") as scope:
        scope.on_failure(undo, "fine", name="undo-fine")
        scope.on_failure(undo, "broken", name="undo-broken", retry=RetryStrategy(max_attempts=2))
        await ctx.wait(30, name="hold")
        raise ValueError(f"{quote}, then the booking failed")


async def test_a_timed_out_attempt_and_a_failed_compensation_over_http(
    over_http: tuple[LocalBackend, LambdaServiceClient],
) -> None:
    backend, client = over_http
    backend.register("timed", OverHttp(timed_and_scoped, client))

    info = backend.start_execution("timed", "{}")
    info = await backend.wait_for_completion(info.arn)

    assert info.error is not None
    assert info.error.error_type == TerminalScopeError.__module__ + ".TerminalScopeError"
    assert info.error.error_message is not None
    assert info.error.error_message.startswith(
        "terminal scope 'booking' failed (ValueError: quoted, then the booking failed) and 1 "
        "of its actions failed too: compensation 'undo-broken': ConnectionError: undo "
        "service down."
    )
    ops = {op.name: op for op in backend.operations(info.arn)}
    quote = ops["quote"].step_details
    assert quote is not None and quote.attempt == 2
    assert ops["undo-fine"].status is OperationStatus.SUCCEEDED
    assert ops["undo-broken"].status is OperationStatus.FAILED


undo_runs: list[str] = []


async def record_undo(label: str) -> str:
    undo_runs.append(label)
    return label


async def fail_now() -> None:
    raise LookupError("sold out")


@durable_execution
async def waits_then_fails(event: Any, ctx: DurableContext) -> str:
    try:
        async with ctx.terminal_scope("long") as scope:
            for i in range(3):
                scope.on_failure(record_undo, f"undo-{i}", name=f"undo-{i}")
                await ctx.wait(60, name=f"wait-{i}")
            await ctx.step(fail_now, name="fail", retry=RetryStrategy(max_attempts=1))
    except LookupError:
        return "unexpected: the step error is a StepError"
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return "done"


async def test_a_scope_that_waits_three_times_then_fails_compensates_once_over_http(
    over_http: tuple[LocalBackend, LambdaServiceClient],
) -> None:
    backend, client = over_http
    backend.register("long", OverHttp(waits_then_fails, client))
    undo_runs.clear()

    info = backend.start_execution("long", "{}")
    info = await backend.wait_for_completion(info.arn)

    assert info.result == '"StepError: sold out"'
    assert undo_runs == ["undo-2", "undo-1", "undo-0"]
    events = [(e.event_type.value, e.name) for e in backend.history(info.arn)]
    invocations = sum(1 for kind, _ in events if kind == "InvocationCompleted")
    assert invocations == 4
    last_wait = events.index(("WaitSucceeded", "wait-2"))
    assert [e for e in events if e[0] == "StepStarted" and (e[1] or "").startswith("undo")] == [
        ("StepStarted", "undo-2"),
        ("StepStarted", "undo-1"),
        ("StepStarted", "undo-0"),
    ]
    assert events.index(("StepStarted", "undo-2")) > last_wait
