"""Service faults end to end: a workflow checkpointing through ``LambdaServiceClient`` to
an HTTP service that misbehaves. Each fault is classified per docs/protocol.md §5.9: retryable
ones are retried a bounded number of times and then make the invocation raise (Lambda
invokes again); terminal ones end the execution FAILED with a clear error, at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import get_session

from aiodurable import DurableContext, durable_execution
from aiodurable.errors import CheckpointError
from aiodurable.service.lambda_client import BackoffPolicy, LambdaServiceClient

from ..http_stub import ServiceStub, isolate_from_aws_configuration
from ..service_harness import ServiceHarness


@pytest.fixture(autouse=True)
def _no_aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    isolate_from_aws_configuration(monkeypatch, tmp_path)


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def setup() -> AsyncIterator[tuple[ServiceHarness, ServiceStub, LambdaServiceClient]]:
    service = ServiceHarness()
    stub = ServiceStub(service)
    await stub.start()
    session = get_session()
    session.set_credentials("x", "x")
    backoff = BackoffPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, sleep=no_sleep)
    async with await LambdaServiceClient.create(
        region_name="us-east-1", endpoint_url=stub.url, session=session, backoff=backoff
    ) as client:
        yield service, stub, client
    await stub.close()


async def one(value: int) -> int:
    return value


@durable_execution
async def workflow(event: Any, ctx: DurableContext) -> int:
    return await ctx.step(one, 1) + await ctx.step(one, 2)


RETRYABLE = [
    ("throttled", 429, "TooManyRequestsException", "Rate exceeded"),
    ("server error", 500, "ServiceException", "internal error"),
    ("stale token", 400, "InvalidParameterValueException", "Invalid checkpoint token: used"),
]
TERMINAL = [
    ("payload over the limit", 413, "RequestEntityTooLargeException", "Payload too large"),
    ("invalid update", 400, "InvalidParameterValueException", "Cannot START a started step"),
    ("KMS access denied", 502, "KMSAccessDeniedException", "KMS access denied"),
    ("KMS disabled", 502, "KMSDisabledException", "key disabled"),
]


@pytest.mark.parametrize(("label", "status", "code", "message"), RETRYABLE)
async def test_persistent_retryable_fault_makes_the_invocation_raise(
    setup: tuple[ServiceHarness, ServiceStub, LambdaServiceClient],
    label: str,
    status: int,
    code: str,
    message: str,
) -> None:
    service, stub, client = setup
    arn = service.start()
    for _ in range(10):
        stub.error(status, code, message)
    with pytest.raises(CheckpointError) as raised:
        await workflow.run(service.event(arn), client=client)
    assert raised.value.retryable
    assert raised.value.execution_arn == arn
    posts = [r for r in stub.requests if r.method == "POST"]
    expected = 1 if label == "stale token" else 3  # a stale token is never resent
    assert len(posts) == expected


async def test_transient_fault_is_retried_and_the_execution_succeeds(
    setup: tuple[ServiceHarness, ServiceStub, LambdaServiceClient],
) -> None:
    service, stub, client = setup
    arn = service.start()
    stub.error(500, "ServiceException", "internal error")
    stub.error(429, "TooManyRequestsException", "Rate exceeded")
    output = await workflow.run(service.event(arn), client=client)
    assert output == {"Status": "SUCCEEDED", "Result": "3"}
    first, second, third = (r for r in stub.requests[:3] if r.method == "POST")
    assert first.body["ClientToken"] == second.body["ClientToken"] == third.body["ClientToken"]


@pytest.mark.parametrize(("label", "status", "code", "message"), TERMINAL)
async def test_terminal_fault_fails_the_execution_without_retrying(
    setup: tuple[ServiceHarness, ServiceStub, LambdaServiceClient],
    label: str,
    status: int,
    code: str,
    message: str,
) -> None:
    service, stub, client = setup
    arn = service.start()
    stub.error(status, code, message)
    output = await workflow.run(service.event(arn), client=client)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "aiodurable.errors.CheckpointError"
    assert message in output["Error"]["ErrorMessage"]
    assert len([r for r in stub.requests if r.method == "POST"]) == 1


async def test_connection_reset_is_retryable(
    setup: tuple[ServiceHarness, ServiceStub, LambdaServiceClient],
) -> None:
    service, stub, _ = setup
    arn = service.start()
    await stub.close()  # nothing listens any more: connection refused / reset
    session = get_session()
    session.set_credentials("x", "x")
    backoff = BackoffPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, sleep=no_sleep)
    async with await LambdaServiceClient.create(
        region_name="us-east-1", endpoint_url=stub.url, session=session, backoff=backoff
    ) as client:
        with pytest.raises(CheckpointError) as raised:
            await workflow.run(service.event(arn), client=client)
    assert raised.value.retryable
