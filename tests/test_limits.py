"""The service's payload limits, as the local backend enforces them (docs/protocol.md §2.8)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from aiodurable import DurableContext, DurableHandler, WaitStrategy, durable_execution
from aiodurable.errors import (
    CheckpointError,
    ResultTooLargeError,
    StepError,
    WaitForConditionError,
)
from aiodurable.limits import (
    MAX_INVOKE_PAYLOAD_BYTES,
    MAX_OPERATION_PAYLOAD_BYTES,
    MAX_RESPONSE_BYTES,
    payload_bytes,
)
from aiodurable.local import LocalBackend
from aiodurable.local.http import LocalHttpServer
from aiodurable.local.validation import (
    RequestTooLargeError,
    check_execution_input,
    validate_updates,
)
from aiodurable.offload import FileSystemSerdes
from aiodurable.serdes import AnySerdes, check_payload_size
from aiodurable.service import DurableServiceClient
from aiodurable.service.lambda_client import LambdaServiceClient
from aiodurable.testing import LocalRunner
from aiodurable.wire import OperationAction, OperationType, OperationUpdate


def step_succeed(payload: str, op_id: str = "s1") -> OperationUpdate:
    return OperationUpdate(
        id=op_id, type=OperationType.STEP, action=OperationAction.SUCCEED, payload=payload
    )


def validate(*updates: OperationUpdate) -> None:
    validate_updates({}, list(updates), region="us-east-1", account="123456789012")


def test_a_step_result_over_262144_bytes_gets_the_services_error() -> None:
    with pytest.raises(CheckpointError) as caught:
        validate(step_succeed("x" * (MAX_OPERATION_PAYLOAD_BYTES + 1)))

    assert caught.value.error_code == "InvalidParameterValueException"
    assert not caught.value.retryable
    assert str(caught.value) == (
        "STEP output payload size must be less than or equal to 262144 bytes."
    )


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    euro = "€" * (MAX_OPERATION_PAYLOAD_BYTES // 3 + 1)  # 3 bytes each
    validate(step_succeed("x" * MAX_OPERATION_PAYLOAD_BYTES))  # exactly the limit: accepted

    with pytest.raises(CheckpointError, match="STEP output payload size"):
        validate(step_succeed(euro))
    assert len(euro) < MAX_OPERATION_PAYLOAD_BYTES < payload_bytes(euro)


def test_json_escaping_counts_for_the_request_not_for_the_payload() -> None:
    quotes = '"' * (MAX_OPERATION_PAYLOAD_BYTES - 10)  # doubles when escaped
    # 25 such updates are ~6.5 MB of payload bytes but ~13 MB of JSON body.
    validate(step_succeed(quotes))
    with pytest.raises(CheckpointError) as caught:
        validate(*(step_succeed(quotes, f"s{i}") for i in range(25)))

    assert caught.value.error_code == "RequestTooLargeException"
    assert caught.value.status_code == 413
    assert "6291456 bytes for the CheckpointDurableExecution operation" in str(caught.value)


def test_a_context_result_has_the_same_limit_with_its_own_message() -> None:
    update = OperationUpdate(
        id="c1", type=OperationType.CONTEXT, action=OperationAction.SUCCEED, payload="x" * 300_000
    )
    with pytest.raises(CheckpointError, match=r"^CONTEXT output payload size must be less"):
        validate(update)


def test_execution_input_keeps_lambdas_invoke_limits() -> None:
    check_execution_input("x" * 262_144)
    check_execution_input("x" * 1_000_000, asynchronous=False)
    with pytest.raises(RequestTooLargeError, match="262144 bytes for the Invoke operation"):
        check_execution_input("x" * 262_145)
    with pytest.raises(RequestTooLargeError, match="6291456 bytes"):
        check_execution_input("x" * 6_291_457, asynchronous=False)


def test_the_runtime_check_gives_size_limit_operation_and_remedy() -> None:
    with pytest.raises(ResultTooLargeError) as caught:
        check_payload_size('"' + "x" * 300_000 + '"', "the result of step 'dump'")

    message = str(caught.value)
    assert "the result of step 'dump'" in message
    assert "300002 bytes" in message and "262144 bytes per STEP operation" in message
    assert "S3Serdes" in message and "FileSystemSerdes" in message


# -- the same answer in-process and over HTTP ------------------------------------------------
class RawCheckpoint:
    """A function that checkpoints one STEP result as it is, without the runtime's checks:
    what the service itself says about it."""

    def __init__(self, payload: str, client: DurableServiceClient | None = None) -> None:
        self.payload = payload
        self.client = client
        self.outcome: Any = None

    async def run(self, event: dict[str, Any], lambda_context: Any = None, *, client: Any) -> Any:
        service = self.client or client
        try:
            await service.checkpoint(
                event["DurableExecutionArn"], event["CheckpointToken"], [step_succeed(self.payload)]
            )
            self.outcome = "accepted"
        except CheckpointError as exc:
            self.outcome = exc
        return {"Status": "SUCCEEDED", "Result": "null"}


class OverHttp:
    """A durable handler whose runtime checkpoints through HTTP, as on Lambda."""

    def __init__(self, handler: Any, client: DurableServiceClient) -> None:
        self.handler, self.client = handler, client

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        return await self.handler.run(event, client=self.client)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}.items():
        monkeypatch.setenv(name, value)


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[tuple[LocalBackend, LambdaServiceClient, Any]]:
    """The local backend behind its HTTP API, the runtime's client and botocore's."""
    async with (
        LocalBackend() as backend,
        LocalHttpServer(backend, port=0) as server,
        await LambdaServiceClient.create(
            region_name="us-east-1", endpoint_url=server.endpoint_url
        ) as service,
        get_session().create_client(
            "lambda", region_name="us-east-1", endpoint_url=server.endpoint_url
        ) as lambda_api,
    ):
        yield backend, service, lambda_api


async def service_says(payload: str, *, over_http: bool) -> Any:
    async with served() as (backend, service, _):
        target = RawCheckpoint(payload, service if over_http else None)
        backend.register("raw", target)
        await backend.wait_for_completion(backend.start_execution("raw").arn)
    return target.outcome


SERVICE_SAYS = "STEP output payload size must be less than or equal to 262144 bytes."


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("over_http", [False, True], ids=["in-process", "over-http"])
async def test_the_service_measures_a_payload_the_same_in_process_and_over_http(
    over_http: bool,
) -> None:
    refused = await service_says("x" * (MAX_OPERATION_PAYLOAD_BYTES + 1), over_http=over_http)
    # 262,144 quotes: at the limit, though 524,290 bytes once escaped in the request.
    quotes = await service_says('"' * MAX_OPERATION_PAYLOAD_BYTES, over_http=over_http)

    assert isinstance(refused, CheckpointError)
    assert (refused.error_code, refused.retryable) == ("InvalidParameterValueException", False)
    assert SERVICE_SAYS in str(refused)  # the HTTP client adds the ARN and what happens next
    assert quotes == "accepted"


async def make_text(spec: dict[str, Any]) -> str:
    return str(spec["char"]) * int(spec["count"])


def dumping(serdes: AnySerdes | None = None) -> DurableHandler[dict[str, Any], str]:
    @durable_execution
    async def dump(event: dict[str, Any], ctx: DurableContext) -> str:
        try:
            text = await ctx.step(make_text, event, name="dump", serdes=serdes)
        except StepError as exc:  # the step failed, not the invocation
            return f"{exc.error_type}: {exc}"
        return f"stored {len(text)} characters"

    return dump


async def on_local_runner(workflow: Any, event: Any) -> Any:
    async with LocalRunner(workflow) as runner:
        result = await runner.run(event)
    assert result.succeeded
    return result.result


async def on_served_http(workflow: Any, event: Any) -> Any:
    async with served() as (backend, service, lambda_api):
        backend.register("dump", OverHttp(workflow, service))
        response = await lambda_api.invoke(FunctionName="dump", Payload=json.dumps(event))
        return json.loads(await response["Payload"].read())


TOO_LARGE = (
    "aiodurable.errors.ResultTooLargeError: the result of step dump serializes to 307202 "
    "bytes of UTF-8; the service stores at most 262144 bytes per STEP operation "
    '("STEP output payload size must be less than or equal to 262144 bytes."). '
)


@pytest.mark.usefixtures("credentials")
async def test_a_300_kb_step_result_fails_the_step_alike_on_local_runner_and_over_http(
    tmp_path: Path,
) -> None:
    too_large = {"char": "x", "count": 300 * 1024}
    quotes = {"char": '"', "count": 130_000}  # 260,002 bytes of JSON; twice that escaped

    for run in (on_local_runner, on_served_http):
        failed = await run(dumping(), too_large)
        assert failed.startswith(TOO_LARGE)
        assert "S3Serdes" in failed and "FileSystemSerdes" in failed  # the remedy
        assert await run(dumping(), quotes) == "stored 130000 characters"
        offloaded = dumping(FileSystemSerdes(tmp_path / run.__name__))
        assert await run(offloaded, too_large) == "stored 307200 characters"


@durable_execution
async def echo_size(event: str, ctx: DurableContext) -> int:
    return len(event)


@pytest.mark.usefixtures("credentials")
async def test_an_execution_input_has_lambdas_invoke_limits_locally_and_over_http() -> None:
    large = "x" * (MAX_OPERATION_PAYLOAD_BYTES + 100)  # over 256 KB once quoted

    async with LocalRunner(echo_size) as runner:
        with pytest.raises(RequestTooLargeError, match="262144 bytes for the Invoke operation"):
            await runner.start(large)
    async with served() as (backend, _, lambda_api):
        backend.register("echo", echo_size)
        with pytest.raises(ClientError) as caught:
            await lambda_api.invoke(
                FunctionName="echo", InvocationType="Event", Payload=json.dumps(large)
            )
        synchronous = await lambda_api.invoke(FunctionName="echo", Payload=json.dumps(large))

    assert caught.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert json.loads(await synchronous["Payload"].read()) == len(large)  # 6 MB for these


class OversizedResponse:
    """A function whose response is over Lambda's 6 MB (a durable handler never is)."""

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        return {"Status": "SUCCEEDED", "Result": json.dumps("y" * MAX_RESPONSE_BYTES)}


async def test_a_response_over_6_mb_fails_the_execution_locally() -> None:
    async with LocalBackend() as backend:
        backend.register("big", OversizedResponse())
        info = await backend.wait_for_completion(backend.start_execution("big").arn)

    assert info.status == "FAILED" and info.error is not None
    assert f"Lambda returns at most {MAX_RESPONSE_BYTES} bytes" in (info.error.error_message or "")


async def test_a_child_result_over_the_limit_in_bytes_not_characters_replays_its_children() -> None:
    async def body(child: DurableContext) -> str:
        # 2 x 75,000 "€": 150,002 characters of JSON but 450,002 bytes of UTF-8.
        first = await child.step(lambda: "€" * 75_000, name="part-1")
        return first + await child.step(lambda: "€" * 75_000, name="part-2")

    @durable_execution
    async def euros(event: Any, ctx: DurableContext) -> int:
        value = await ctx.run_in_child_context(body, name="large")
        return len(value)

    async with LocalRunner(euros) as runner:
        result = await runner.run()

    assert result.succeeded and result.result == 150_000
    (context,) = [op.operation for op in result.operations if op.name == "large"]
    assert context.context_details is not None
    assert context.context_details.replay_children is True


async def test_a_wait_for_condition_state_over_the_limit_fails_the_operation() -> None:
    @durable_execution
    async def polling(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.wait_for_condition(
                lambda state: state + "s" * 300_000,
                initial_state="",
                wait_strategy=WaitStrategy(lambda state: False),
                name="grow",
            )
        except WaitForConditionError as exc:
            return str(exc)
        return "stored"

    async with LocalRunner(polling) as runner:
        result = await runner.run()

    assert result.result is not None
    assert result.result.startswith(
        "the state of wait_for_condition grow serializes to 300002 bytes of UTF-8"
    )
    assert "S3Serdes" in result.result


# -- non-ASCII values: fewer characters than the limit, more bytes ---------------------------
@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("run", [on_local_runner, on_served_http], ids=["local", "over-http"])
async def test_a_non_ascii_step_result_over_the_limit_in_bytes_fails_the_step(run: Any) -> None:
    # 200,002 characters of JSON, under the limit; 400,002 bytes of UTF-8, over it.
    failed = await run(dumping(), {"char": "é", "count": 200_000})
    assert failed.startswith(
        "aiodurable.errors.ResultTooLargeError: the result of step dump serializes to 400002 "
        "bytes of UTF-8"
    )
    # 65,535 "€" (3 bytes each): 196,607 bytes with the quotes, stored.
    assert await run(dumping(), {"char": "€", "count": 65_535}) == "stored 65535 characters"


@durable_execution
async def grows_accents(event: Any, ctx: DurableContext) -> str:
    try:
        await ctx.wait_for_condition(
            lambda state: state + "é" * 150_000,  # 150,002 characters, 300,002 bytes
            initial_state="",
            wait_strategy=WaitStrategy(lambda state: False),
            name="grow",
        )
    except WaitForConditionError as exc:
        return str(exc)
    return "stored"


@durable_execution
async def invokes_with_accents(event: Any, ctx: DurableContext) -> str:
    try:
        # 2-byte characters: 524,291 characters of JSON, 1,048,580 bytes (1 MiB + 4).
        await ctx.invoke("elsewhere", "é" * (MAX_INVOKE_PAYLOAD_BYTES // 2 + 1), name="send")
    except ResultTooLargeError as exc:
        return str(exc)
    return "sent"


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("run", [on_local_runner, on_served_http], ids=["local", "over-http"])
async def test_non_ascii_condition_state_and_invoke_input_are_measured_in_bytes(run: Any) -> None:
    state = await run(grows_accents, {})
    assert state.startswith(
        "the state of wait_for_condition grow serializes to 300002 bytes of UTF-8"
    )
    sent = await run(invokes_with_accents, {})
    assert sent.startswith("the payload of invoke send serializes to 1048580 bytes of UTF-8")
