"""The backend over HTTP, driven by our own LambdaServiceClient and by aiobotocore."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from aiodurable.local import LocalBackend, VirtualClock
from aiodurable.local.http import LocalHttpServer
from aiodurable.service.lambda_client import LambdaServiceClient

from .workflows import approval, order


class OverHttp:
    """Runs a handler with the runtime talking to the backend through HTTP."""

    def __init__(self, handler: Any, client: LambdaServiceClient) -> None:
        self.handler = handler
        self.client = client

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        return await self.handler.run(event, client=self.client)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")


@pytest.fixture
async def served(credentials: None) -> AsyncIterator[tuple[LocalBackend, str]]:
    async with (
        LocalBackend(clock=VirtualClock(auto_advance=False)) as backend,
        LocalHttpServer(backend, port=0) as server,
    ):
        yield backend, server.endpoint_url


@pytest.fixture
async def lambda_api(served: tuple[LocalBackend, str]) -> AsyncIterator[Any]:
    async with get_session().create_client(
        "lambda", region_name="us-east-1", endpoint_url=served[1]
    ) as client:
        yield client


async def test_a_workflow_checkpoints_through_the_lambda_client(
    served: tuple[LocalBackend, str], lambda_api: Any
) -> None:
    backend, endpoint = served
    service = await LambdaServiceClient.create(region_name="us-east-1", endpoint_url=endpoint)
    try:
        backend.register("order", OverHttp(order, service))
        response = await lambda_api.invoke(
            FunctionName="order",
            Payload=b'{"order_id": "o-1", "items": ["a", "b", "c"]}',
            DurableExecutionName="order-1",
        )
        arn = response["DurableExecutionArn"]
        assert await response["Payload"].read() == b'{"order_id":"o-1","total":30}'

        execution = await lambda_api.get_durable_execution(DurableExecutionArn=arn)
        history = await lambda_api.get_durable_execution_history(DurableExecutionArn=arn)
    finally:
        await service.close()

    assert execution["Status"] == "SUCCEEDED"
    assert execution["DurableExecutionName"] == "order-1"
    assert execution["StartTimestamp"].tzinfo is not None
    types = [e["EventType"] for e in history["Events"]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert types.count("StepFailed") == 1 and "WaitSucceeded" in types


async def test_callbacks_are_completed_over_http(
    served: tuple[LocalBackend, str], lambda_api: Any
) -> None:
    backend, _ = served
    backend.register("approval", approval)
    started = await lambda_api.invoke(
        FunctionName="approval", Payload=b'{"order_id": "o-2"}', InvocationType="Event"
    )
    assert started["StatusCode"] == 202
    arn = started["DurableExecutionArn"]
    await backend.wait_until(
        lambda: (
            any(op.callback_details for op in backend.operations(arn))
            and not backend.is_invoking(arn)
        )
    )
    history = await lambda_api.get_durable_execution_history(DurableExecutionArn=arn)
    callback_id = next(
        e["CallbackStartedDetails"]["CallbackId"]
        for e in history["Events"]
        if e["EventType"] == "CallbackStarted"
    )

    await lambda_api.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
    await lambda_api.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=b'"approved"'
    )
    with pytest.raises(ClientError) as again:
        await lambda_api.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=b"1"
        )
    with pytest.raises(ClientError) as unknown:
        await lambda_api.send_durable_execution_callback_failure(
            CallbackId="bm9wZQ==", Error={"ErrorMessage": "no"}
        )
    info = await backend.wait_for_completion(arn)

    assert info.result == '"o-2: \\"approved\\""'
    assert again.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


async def test_checkpoint_errors_reach_the_client_with_the_service_codes(
    served: tuple[LocalBackend, str], lambda_api: Any
) -> None:
    backend, _ = served
    backend.register("approval", approval)
    started = await lambda_api.invoke(
        FunctionName="approval", Payload=b'{"order_id": "o-3"}', InvocationType="Event"
    )
    arn = started["DurableExecutionArn"]
    await backend.wait_until(lambda: not backend.is_invoking(arn) and len(backend.history(arn)) > 2)

    with pytest.raises(ClientError) as stale:
        await lambda_api.checkpoint_durable_execution(
            DurableExecutionArn=arn, CheckpointToken="c3RhbGU=", Updates=[]
        )
    error = stale.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"].startswith("Invalid checkpoint token")

    listed = await lambda_api.list_durable_executions_by_function(FunctionName="approval")
    assert [e["DurableExecutionArn"] for e in listed["DurableExecutions"]] == [arn]
    stopped = await lambda_api.stop_durable_execution(DurableExecutionArn=arn)
    assert stopped["StopTimestamp"].tzinfo is not None
    assert backend.describe(arn).status == "STOPPED"
    withheld = await lambda_api.get_durable_execution_history(
        DurableExecutionArn=arn, IncludeExecutionData=False
    )
    started_event = withheld["Events"][0]
    assert started_event["ExecutionStartedDetails"]["Input"] == {"Truncated": True}


async def test_starting_an_execution_of_an_unknown_function_is_not_found(lambda_api: Any) -> None:
    with pytest.raises(ClientError) as caught:
        await lambda_api.invoke(FunctionName="nobody", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
