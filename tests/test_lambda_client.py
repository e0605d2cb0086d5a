"""LambdaServiceClient: the real aiobotocore client against a local HTTP stub."""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from aiodurable import DurableContext, durable_execution
from aiodurable.errors import CheckpointError
from aiodurable.service import DurableServiceClient
from aiodurable.service.lambda_client import BackoffPolicy, LambdaServiceClient
from aiodurable.wire import (
    CheckpointResponse,
    ContextOptions,
    ErrorObject,
    ExecutionState,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    WaitDetails,
    WaitOptions,
)

from .http_stub import Reply, ServiceStub, isolate_from_aws_configuration
from .service_harness import ServiceHarness

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/run/5b1d0c9e"
BASE = "/2025-12-01/durable-executions/"
CLIENT_TOKEN = re.compile(r"^[\x21-\x7e]{1,64}$")

START = OperationUpdate(
    id="1ced",
    type=OperationType.STEP,
    action=OperationAction.START,
    sub_type="Step",
    name="reserve",
)


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    isolate_from_aws_configuration(monkeypatch, tmp_path)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def backoff(sleeps: list[float]) -> BackoffPolicy:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return BackoffPolicy(
        max_attempts=3, base_delay=0.1, max_delay=2.0, sleep=sleep, random=lambda: 1.0
    )


@functools.cache
def session() -> AioSession:
    # One session for the module: it caches botocore's service model between tests.
    made = get_session()
    made.set_credentials("x", "x")
    return made


@asynccontextmanager
async def service_client(
    endpoint_url: str, backoff: BackoffPolicy, **kwargs: Any
) -> AsyncIterator[LambdaServiceClient]:
    async with await LambdaServiceClient.create(
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        session=session(),
        backoff=backoff,
        **kwargs,
    ) as client:
        yield client


@pytest.fixture
async def client(stub: ServiceStub, backoff: BackoffPolicy) -> AsyncIterator[LambdaServiceClient]:
    async with service_client(stub.url, backoff) as made:
        yield made


def ok_checkpoint(token: str = "QUFBQUFC") -> dict[str, Any]:
    return {"CheckpointToken": token, "NewExecutionState": {"Operations": []}}


# -- requests --------------------------------------------------------------------------------
def test_satisfies_the_service_client_protocol() -> None:
    assert isinstance(LambdaServiceClient(object()), DurableServiceClient)


async def test_checkpoint_posts_pascal_case_updates_to_the_url_encoded_arn(
    stub: ServiceStub, client: LambdaServiceClient
) -> None:
    stub.reply(body=ok_checkpoint())
    updates = [
        START,
        OperationUpdate(
            id="1ced",
            type=OperationType.STEP,
            action=OperationAction.SUCCEED,
            sub_type="Step",
            name="reserve",
            payload="",
        ),
        OperationUpdate(
            id="9f00",
            parent_id="77aa",
            type=OperationType.CONTEXT,
            action=OperationAction.SUCCEED,
            sub_type="RunInChildContext",
            payload='"done"',
            context_options=ContextOptions(replay_children=False),
        ),
        OperationUpdate(
            id="c5fa",
            type=OperationType.WAIT,
            action=OperationAction.START,
            sub_type="Wait",
            wait_options=WaitOptions(wait_seconds=60),
        ),
        OperationUpdate(
            id="d00d",
            type=OperationType.STEP,
            action=OperationAction.FAIL,
            error=ErrorObject(error_type="ValueError", error_message="bad"),
        ),
    ]

    await client.checkpoint(ARN, "QUFBQUFB", updates)

    [request] = stub.requests
    assert request.method == "POST"
    assert request.raw_path == BASE + quote(ARN, safe="") + "/checkpoint"
    assert request.arn == ARN
    client_token = request.body.pop("ClientToken")
    assert CLIENT_TOKEN.match(client_token)
    assert request.body == {
        "CheckpointToken": "QUFBQUFB",
        "Updates": [
            {"Id": "1ced", "Type": "STEP", "Action": "START", "Name": "reserve", "SubType": "Step"},
            {
                "Id": "1ced",
                "Type": "STEP",
                "Action": "SUCCEED",
                "Name": "reserve",
                "SubType": "Step",
                "Payload": "",
            },
            {
                "Id": "9f00",
                "Type": "CONTEXT",
                "Action": "SUCCEED",
                "ParentId": "77aa",
                "SubType": "RunInChildContext",
                "Payload": '"done"',
                "ContextOptions": {"ReplayChildren": False},
            },
            {
                "Id": "c5fa",
                "Type": "WAIT",
                "Action": "START",
                "SubType": "Wait",
                "WaitOptions": {"WaitSeconds": 60},
            },
            {
                "Id": "d00d",
                "Type": "STEP",
                "Action": "FAIL",
                "Error": {"ErrorType": "ValueError", "ErrorMessage": "bad"},
            },
        ],
    }


async def test_requests_identify_aiodurable_in_the_user_agent(
    stub: ServiceStub, client: LambdaServiceClient
) -> None:
    stub.reply(body=ok_checkpoint())
    await client.checkpoint(ARN, "QUFBQUFB", [START])
    version = importlib.metadata.version("aiodurable")
    assert f"aiodurable/{version}" in stub.requests[0].headers["User-Agent"]


async def test_checkpoint_sends_the_callers_client_token(
    stub: ServiceStub, client: LambdaServiceClient
) -> None:
    stub.reply(body=ok_checkpoint())
    await client.checkpoint(ARN, "QUFBQUFB", [START], client_token="retry-of-call-7")
    assert stub.requests[0].body["ClientToken"] == "retry-of-call-7"


async def test_each_checkpoint_gets_its_own_client_token(
    stub: ServiceStub, client: LambdaServiceClient
) -> None:
    stub.reply(body=ok_checkpoint("QUFBQUFC"))
    stub.reply(body=ok_checkpoint("QUFBQUFD"))
    await client.checkpoint(ARN, "QUFBQUFB", [START])
    await client.checkpoint(ARN, "QUFBQUFC", [])
    first, second = (r.body["ClientToken"] for r in stub.requests)
    assert first != second
    assert stub.requests[1].body["Updates"] == []


async def test_get_state_sends_token_marker_and_page_size_as_query(
    stub: ServiceStub, client: LambdaServiceClient
) -> None:
    stub.reply(
        body={
            "Operations": [{"Id": "a", "Type": "STEP", "Status": "STARTED"}],
            "NextMarker": "page-3",
        }
    )

    page = await client.get_state(ARN, "QUFBQUFC", marker="page-2", max_items=1000)

    [request] = stub.requests
    assert request.method == "GET"
    assert request.raw_path == BASE + quote(ARN, safe="") + "/state"
    assert request.query == {"CheckpointToken": "QUFBQUFC", "Marker": "page-2", "MaxItems": "1000"}
    assert request.body is None
    assert page == ExecutionState(
        operations=[Operation(id="a", type=OperationType.STEP, status=OperationStatus.STARTED)],
        next_marker="page-3",
    )


# -- responses -------------------------------------------------------------------------------
async def test_checkpoint_response_turns_epoch_seconds_into_aware_datetimes(
    stub: ServiceStub, client: LambdaServiceClient
) -> None:
    stub.reply(
        body={
            "CheckpointToken": "QUFBQUFD",
            "NewExecutionState": {
                "Operations": [
                    {
                        "Id": "1ced",
                        "Type": "STEP",
                        "SubType": "Step",
                        "Name": "reserve",
                        "Status": "SUCCEEDED",
                        "StartTimestamp": 1767225600.25,
                        "EndTimestamp": 1767225601,
                        "StepDetails": {"Attempt": 1, "Result": '"held"'},
                    },
                    {
                        "Id": "c5fa",
                        "Type": "WAIT",
                        "Status": "STARTED",
                        "StartTimestamp": 1767225601.5,
                        "WaitDetails": {"ScheduledEndTimestamp": 1767225661.5},
                    },
                ],
                "NextMarker": "2",
            },
        }
    )

    response = await client.checkpoint(ARN, "QUFBQUFB", [START])

    new_year = datetime(2026, 1, 1, tzinfo=UTC)
    assert response == CheckpointResponse(
        checkpoint_token="QUFBQUFD",
        new_execution_state=ExecutionState(
            operations=[
                Operation(
                    id="1ced",
                    type=OperationType.STEP,
                    status=OperationStatus.SUCCEEDED,
                    sub_type="Step",
                    name="reserve",
                    start_timestamp=new_year + timedelta(seconds=0.25),
                    end_timestamp=new_year + timedelta(seconds=1),
                    step_details=StepDetails(attempt=1, result='"held"'),
                ),
                Operation(
                    id="c5fa",
                    type=OperationType.WAIT,
                    status=OperationStatus.STARTED,
                    start_timestamp=new_year + timedelta(seconds=1.5),
                    wait_details=WaitDetails(
                        scheduled_end_timestamp=new_year + timedelta(seconds=61.5)
                    ),
                ),
            ],
            next_marker="2",
        ),
    )
    start = response.new_execution_state.operations[0].start_timestamp
    assert start is not None
    assert start.utcoffset() == timedelta(0)


async def test_checkpoint_response_without_token_decodes_with_token_none(
    stub: ServiceStub, client: LambdaServiceClient
) -> None:
    stub.reply(body={"NewExecutionState": {"Operations": []}})
    response = await client.checkpoint(ARN, "QUFBQUFB", [START])
    assert response == CheckpointResponse(checkpoint_token=None)


async def test_a_response_the_models_cannot_hold_fails_the_execution(
    stub: ServiceStub, client: LambdaServiceClient
) -> None:
    stub.reply(
        body={
            "CheckpointToken": "QUFBQUFD",
            "NewExecutionState": {
                "Operations": [{"Id": "x", "Type": "TELEPORT", "Status": "STARTED"}]
            },
        }
    )
    with pytest.raises(CheckpointError) as caught:
        await client.checkpoint(ARN, "QUFBQUFB", [START])
    assert caught.value.retryable is False
    assert "TELEPORT" in str(caught.value)


# -- error classification (docs/protocol.md §5.9) --------------------------------------------------
async def test_invalid_parameter_is_terminal_and_not_retried(
    stub: ServiceStub, client: LambdaServiceClient, sleeps: list[float]
) -> None:
    stub.error(400, "InvalidParameterValueException", "Name must be at most 256 characters")

    with pytest.raises(CheckpointError) as caught:
        await client.checkpoint(ARN, "QUFBQUFB", [START])

    error = caught.value
    assert (error.retryable, error.status_code, error.error_code) == (
        False,
        400,
        "InvalidParameterValueException",
    )
    assert (error.operation, error.execution_arn) == ("CheckpointDurableExecution", ARN)
    assert str(error) == (
        f"CheckpointDurableExecution failed for execution {ARN}: "
        "InvalidParameterValueException (HTTP 400): Name must be at most 256 characters. "
        "The error is not retryable: the execution fails."
    )
    assert len(stub.requests) == 1
    assert sleeps == []


async def test_stale_checkpoint_token_is_retryable_but_not_resent(
    stub: ServiceStub, client: LambdaServiceClient, sleeps: list[float]
) -> None:
    stub.error(400, "InvalidParameterValueException", "Invalid checkpoint token: QUFBQUFB")

    with pytest.raises(CheckpointError) as caught:
        await client.checkpoint(ARN, "QUFBQUFB", [START])

    assert caught.value.retryable is True
    assert caught.value.status_code == 400
    assert "Lambda invokes the function again" in str(caught.value)
    assert len(stub.requests) == 1
    assert sleeps == []


async def test_throttling_is_retried_with_backoff_then_raised_as_retryable(
    stub: ServiceStub, client: LambdaServiceClient, sleeps: list[float]
) -> None:
    for _ in range(3):
        stub.error(429, "TooManyRequestsException", "Rate exceeded")

    with pytest.raises(CheckpointError) as caught:
        await client.checkpoint(ARN, "QUFBQUFB", [START])

    assert caught.value.retryable is True
    assert caught.value.status_code == 429
    assert "failed after 3 attempts" in str(caught.value)
    assert len(stub.requests) == 3
    assert sleeps == [0.1, 0.2]
    assert len({r.body["ClientToken"] for r in stub.requests}) == 1


async def test_server_error_is_retried_with_the_same_client_token(
    stub: ServiceStub, client: LambdaServiceClient, sleeps: list[float]
) -> None:
    stub.error(500, "ServiceException", "internal")
    stub.reply(body=ok_checkpoint("QUFBQUFD"))

    response = await client.checkpoint(ARN, "QUFBQUFB", [START])

    assert response.checkpoint_token == "QUFBQUFD"
    first, second = stub.requests
    assert first.body == second.body  # same token, updates and ClientToken
    assert sleeps == [0.1]


async def test_get_state_is_retried_and_classified_under_its_own_name(
    stub: ServiceStub, client: LambdaServiceClient, sleeps: list[float]
) -> None:
    for _ in range(3):
        stub.error(503, "ServiceException", "unavailable")

    with pytest.raises(CheckpointError) as caught:
        await client.get_state(ARN, "QUFBQUFB", marker="m")

    assert caught.value.operation == "GetDurableExecutionState"
    assert caught.value.retryable is True
    assert str(caught.value).startswith(
        f"GetDurableExecutionState failed after 3 attempts for execution {ARN}"
    )
    assert len(stub.requests) == 3


@pytest.mark.parametrize(
    "code", ["KMSAccessDeniedException", "KMSDisabledException", "KMSNotFoundException"]
)
async def test_kms_errors_are_terminal_even_with_a_5xx_status(
    stub: ServiceStub, client: LambdaServiceClient, sleeps: list[float], code: str
) -> None:
    stub.error(502, code, "Lambda was unable to decrypt the state")

    with pytest.raises(CheckpointError) as caught:
        await client.checkpoint(ARN, "QUFBQUFB", [START])

    assert (caught.value.retryable, caught.value.status_code, caught.value.error_code) == (
        False,
        502,
        code,
    )
    assert len(stub.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "code"),
    [(413, "RequestEntityTooLargeException"), (400, "InvalidParameterValueException")],
)
async def test_an_oversized_payload_is_terminal_and_sent_exactly_once(
    stub: ServiceStub, client: LambdaServiceClient, sleeps: list[float], status: int, code: str
) -> None:
    stub.error(status, code, "Payload exceeds the maximum size of 262144 bytes")
    big = OperationUpdate(
        id="1ced",
        type=OperationType.STEP,
        action=OperationAction.SUCCEED,
        payload="x" * 300_000,
    )

    with pytest.raises(CheckpointError) as caught:
        await client.checkpoint(ARN, "QUFBQUFB", [big])

    assert caught.value.retryable is False
    assert caught.value.status_code == status
    assert len(stub.requests) == 1
    assert sleeps == []


async def test_connection_refused_is_retried_then_raised_as_retryable(
    backoff: BackoffPolicy, sleeps: list[float]
) -> None:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async with service_client(f"http://127.0.0.1:{port}", backoff) as client:
        with pytest.raises(CheckpointError) as caught:
            await client.checkpoint(ARN, "QUFBQUFB", [START])

    assert caught.value.retryable is True
    assert caught.value.status_code is None
    assert "network error" in str(caught.value)
    assert sleeps == [0.1, 0.2]


async def test_a_read_timeout_is_retried_with_the_same_client_token(
    stub: ServiceStub, backoff: BackoffPolicy
) -> None:
    release = asyncio.Event()
    stub.replies.append(Reply(body=ok_checkpoint("QUFBQUFZ"), hold=release))
    stub.reply(body=ok_checkpoint("QUFBQUFD"))
    try:
        async with service_client(stub.url, backoff, config=AioConfig(read_timeout=0.2)) as client:
            response = await client.checkpoint(ARN, "QUFBQUFB", [START])
    finally:
        release.set()

    assert response.checkpoint_token == "QUFBQUFD"
    first, second = stub.requests
    assert first.body["ClientToken"] == second.body["ClientToken"]


async def test_an_empty_checkpoint_token_is_retryable_and_nothing_is_sent(
    stub: ServiceStub, client: LambdaServiceClient
) -> None:
    with pytest.raises(CheckpointError) as caught:
        await client.checkpoint(ARN, "", [START])
    assert caught.value.retryable is True
    assert "checkpoint token is empty" in str(caught.value)
    assert stub.requests == []


# -- construction and ownership --------------------------------------------------------------
async def test_create_honours_aws_endpoint_url_lambda(
    stub: ServiceStub, backoff: BackoffPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", stub.url)
    stub.reply(body=ok_checkpoint())
    async with await LambdaServiceClient.create(
        region_name="us-east-1", session=session(), backoff=backoff
    ) as client:
        await client.checkpoint(ARN, "QUFBQUFB", [START])
    assert len(stub.requests) == 1


class RecordingSession:
    """Stands in for an aiobotocore session to show what create() asks it for."""

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}
        self.events: list[str] = []

    @asynccontextmanager
    async def create_client(self, service: str, **kwargs: Any) -> AsyncIterator[object]:
        self.kwargs = {"service": service, **kwargs}
        self.events.append("open")
        yield object()
        self.events.append("close")


async def test_create_asks_for_timeouts_user_agent_and_no_botocore_retries() -> None:
    made = RecordingSession()
    client = await LambdaServiceClient.create(
        region_name="eu-west-1", session=made, config=AioConfig(max_pool_connections=3)
    )
    await client.close()

    config = made.kwargs["config"]
    assert made.kwargs["service"] == "lambda"
    assert made.kwargs["region_name"] == "eu-west-1"
    assert made.kwargs["endpoint_url"] is None
    assert (config.connect_timeout, config.read_timeout) == (5.0, 50.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert config.user_agent_extra.startswith("aiodurable/")
    assert config.max_pool_connections == 3


async def test_create_owns_its_client_and_closes_it_once() -> None:
    made = RecordingSession()
    async with await LambdaServiceClient.create(session=made) as client:
        assert made.events == ["open"]
    await client.close()
    assert made.events == ["open", "close"]


async def test_create_accepts_an_aioboto3_style_session() -> None:
    class Aioboto3Session:
        def __init__(self) -> None:
            self.inner = RecordingSession()

        def client(self, service: str, **kwargs: Any) -> Any:
            return self.inner.create_client(service, **kwargs)

    made = Aioboto3Session()
    async with await LambdaServiceClient.create(session=made):
        pass
    assert made.inner.events == ["open", "close"]


async def test_a_client_the_user_made_is_used_and_left_open(stub: ServiceStub) -> None:
    stub.reply(body=ok_checkpoint("QUFBQUFC"))
    stub.reply(body=ok_checkpoint("QUFBQUFD"))
    async with get_session().create_client(
        "lambda",
        region_name="us-east-1",
        endpoint_url=stub.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    ) as lambda_client:
        async with LambdaServiceClient(lambda_client) as service:
            await service.checkpoint(ARN, "QUFBQUFB", [START])
        # Closing our wrapper must not close the user's client.
        await lambda_client.checkpoint_durable_execution(
            DurableExecutionArn=ARN, CheckpointToken="QUFBQUFC", Updates=[]
        )
    assert len(stub.requests) == 2


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = BackoffPolicy(base_delay=0.5, max_delay=2.0, random=lambda: 1.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    jittered = BackoffPolicy(base_delay=0.5, max_delay=2.0, random=lambda: 0.25)
    assert jittered.delay(3) == 0.5


def test_backoff_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        BackoffPolicy(max_attempts=0)


def test_importing_aiodurable_does_not_import_the_aws_stack() -> None:
    code = (
        "import sys, aiodurable, aiodurable.service\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in {'aiobotocore', 'botocore', 'aiohttp'}]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- end to end ------------------------------------------------------------------------------
@durable_execution
async def greet(event: dict[str, str], ctx: DurableContext) -> str:
    name = await ctx.step(lambda: event["name"].upper(), name="upper")
    await ctx.wait(timedelta(minutes=5), name="pause")
    return await ctx.step(lambda: f"hello {name}", name="greet")


@pytest.fixture
def service() -> ServiceHarness:
    return ServiceHarness()


async def test_a_workflow_checkpoints_through_lambda_service_client(
    service: ServiceHarness, backoff: BackoffPolicy
) -> None:
    stub = ServiceStub(service)
    await stub.start()
    arn = service.start('{"name": "ada"}')
    try:
        async with service_client(stub.url, backoff) as client:
            first = await greet.run(service.event(arn), client=client)
            service.advance(300)
            # Hand over only the first operation so that the runtime pages the rest in.
            second = await greet.run(service.event(arn, first_page=1), client=client)
    finally:
        await stub.close()

    assert first["Status"] == "PENDING"
    assert second == {"Status": "SUCCEEDED", "Result": '"hello ADA"'}
    checkpoints = [r for r in stub.requests if r.method == "POST"]
    pages = [r for r in stub.requests if r.method == "GET"]
    # Every checkpoint used the token the service had just issued (docs/protocol.md §5.2).
    assert [r.body["CheckpointToken"] for r in checkpoints] == [c.token for c in service.calls]
    assert all(r.arn == arn for r in stub.requests)
    assert pages
    assert pages[0].query["Marker"] == "1"
