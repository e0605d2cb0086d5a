"""AWS's local emulator (``aws-durable-execution-sdk-python-testing``) as a backend.

The emulator runs as its own web server in a subprocess (real time: its ``--skip-time``
mode reorders events). It invokes functions through a Lambda ``Invoke`` endpoint; this
module serves that endpoint with aiohttp and runs our handlers in-process, and the
handlers checkpoint back to the emulator through ``aiodurable.service.LambdaServiceClient``
— the same client they would use against Lambda.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from aiohttp import web
from aws_durable_execution_conformance_tests.callback import CallbackAction  # type: ignore[import-untyped]

from aiodurable import InvocationExitError
from aiodurable.service.lambda_client import LambdaServiceClient

LAUNCHER = Path(__file__).with_name("emulator_launcher.py")
REGION = "us-west-2"
#: The emulator signs its Invoke calls and we sign ours; any credentials do.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "conformance",
    "AWS_SECRET_ACCESS_KEY": "conformance",
    "AWS_DEFAULT_REGION": REGION,
}
HANDLER_INVOKE_HEADER = "X-Dex-Handler-Invoke"

#: Details members the emulator never writes; the matcher must tolerate their absence
#: (a present value is still compared). ``None`` as sub-type means any sub-type.
ABSENT_ON_EMULATOR: list[tuple[str, str | None, tuple[str, ...]]] = [
    ("CallbackStarted", None, ("CallbackStartedDetails", "Timeout")),
    ("CallbackStarted", None, ("CallbackStartedDetails", "HeartbeatTimeout")),
    ("ChainedInvokeStarted", None, ("ChainedInvokeStartedDetails", "ExecutedVersion")),
    ("ChainedInvokeStarted", None, ("ChainedInvokeStartedDetails", "TenantId")),
    ("StepSucceeded", None, ("StepSucceededDetails", "RetryDetails")),
    # The state a wait-for-condition "continue" (a STEP RETRY with a payload) carries.
    ("StepSucceeded", "WaitForCondition", ("StepSucceededDetails", "Result", "Payload")),
]


def _drop_if_absent(wanted: dict[str, Any], seen: Any, path: tuple[str, ...]) -> None:
    """Delete ``path`` from ``wanted`` if ``seen`` lacks it, and containers it empties."""
    head, rest = path[0], path[1:]
    if head not in wanted:
        return
    inner = seen.get(head) if isinstance(seen, dict) else None
    if rest:
        if isinstance(wanted[head], dict):
            before = len(wanted[head])
            _drop_if_absent(wanted[head], inner, rest)
            if before and not wanted[head] and inner is None:
                del wanted[head]
    elif inner is None:
        del wanted[head]


def tolerate_absent_details(
    expected: list[dict[str, Any]], actual: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``expected`` without the members of :data:`ABSENT_ON_EMULATOR` that ``actual`` lacks."""
    actual_by_id = {event.get("EventId"): event for event in actual}
    relaxed = copy.deepcopy(expected)
    for event in relaxed:
        seen = actual_by_id.get(event.get("EventId"))
        if seen is None or seen.get("EventType") != event.get("EventType"):
            continue
        for event_type, sub_type, path in ABSENT_ON_EMULATOR:
            if event_type == event["EventType"] and sub_type in (None, event.get("SubType")):
                _drop_if_absent(event, seen, path)
    return relaxed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _open_log(path: Path | None) -> BinaryIO:
    """Where the emulator subprocess writes its output (closed by the caller)."""
    return open(path or os.devnull, "wb")


def _function_error(error_type: str, message: str) -> web.Response:
    """What Lambda answers when the function raised or its process exited."""
    return web.json_response(
        {"errorType": error_type, "errorMessage": message},
        headers={"X-Amz-Function-Error": "Unhandled"},
    )


class LambdaEndpoint:
    """Lambda's ``Invoke`` route, running durable handlers in this process."""

    def __init__(self, functions: Mapping[str, Any]) -> None:
        self.functions = functions
        self.service: LambdaServiceClient | None = None

    async def invoke(self, request: web.Request) -> web.Response:
        name = request.match_info["function"].rpartition(":function:")[2].partition(":")[0]
        handler = self.functions.get(name)
        if handler is None:
            return web.json_response(
                {"Type": "User", "Message": f"Function not found: {name}"},
                status=404,
                headers={"X-Amzn-ErrorType": "ResourceNotFoundException"},
            )
        if request.headers.get(HANDLER_INVOKE_HEADER) != "true":
            # Every function here is durable: a plain Invoke would start an execution,
            # which the suite never asks the emulator to do this way.
            return web.json_response(
                {"Type": "User", "Message": "only handler invocations are served"},
                status=400,
                headers={"X-Amzn-ErrorType": "InvalidRequestContentException"},
            )
        event = await request.json()
        assert self.service is not None
        try:
            output = await handler.run(event, client=self.service)
        except (SystemExit, InvocationExitError) as exit_:
            # The workflow exited: on Lambda its process would be gone.
            return _function_error("Runtime.ExitError", f"Runtime exited with error: {exit_}")
        except Exception as error:
            return _function_error(type(error).__name__, str(error))
        return web.json_response(output)


class EmulatorBackend:
    """Requirements run on AWS's emulator; see the module docstring."""

    name = "emulator"
    poll_interval = 0.25

    def __init__(self, url: str, lambda_client: Any) -> None:
        self.url = url
        self._lambda = lambda_client
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        functions: Mapping[str, Any],
        targets: list[str],
        *,
        log_path: Path | None = None,
        port: int | None = None,
    ) -> AsyncIterator[EmulatorBackend]:
        """Serve ``functions``, start the emulator (on ``port``, default a free one), and
        stop both on exit. A function is anything with ``run(event, client=…)``."""
        for key, value in CREDENTIALS.items():
            os.environ.setdefault(key, value)
        endpoint = LambdaEndpoint(functions)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/2015-03-31/functions/{function}/invocations", endpoint.invoke)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        lambda_port = runner.addresses[0][1]
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        configs = {
            name: {"DurableConfig": {"ExecutionTimeout": 300, "RetentionPeriodInDays": 1}}
            for name in targets
        }
        log = _open_log(log_path)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(LAUNCHER),
            "start-server",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--lambda-endpoint=http://127.0.0.1:{lambda_port}",
            f"--local-runner-endpoint={url}",
            f"--local-runner-region={REGION}",
            "--no-skip-time",
            "--log-level=WARNING",
            f"--function-configs={json.dumps(configs)}",
            stdout=log,
            stderr=log,
        )
        try:
            async with contextlib.AsyncExitStack() as stack:
                session = get_session()
                lambda_client = await stack.enter_async_context(
                    session.create_client("lambda", region_name=REGION, endpoint_url=url)
                )
                endpoint.service = await stack.enter_async_context(
                    await LambdaServiceClient.create(region_name=REGION, endpoint_url=url)
                )
                backend = cls(url, lambda_client)
                backend._http = await stack.enter_async_context(aiohttp.ClientSession())
                await backend._wait_until_healthy(process)
                yield backend
        finally:
            if process.returncode is None:
                process.terminate()
                await process.wait()
            log.close()
            await runner.cleanup()

    async def _wait_until_healthy(self, process: asyncio.subprocess.Process) -> None:
        assert self._http is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the emulator exited with status {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with self._http.get(f"{self.url}/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError("the emulator did not become healthy within 30 s")

    # -- Backend ---------------------------------------------------------------------------
    async def start(self, function_name: str, payload: str) -> str:
        assert self._http is not None
        body = {
            "AccountId": "123456789012",
            "FunctionName": function_name,
            "FunctionQualifier": "$LATEST",
            "ExecutionName": f"{function_name}-{uuid.uuid4().hex[:12]}",
            "ExecutionTimeoutSeconds": 300,
            "ExecutionRetentionPeriodDays": 1,
            "InvocationId": str(uuid.uuid4()),
            "Input": payload,
        }
        async with self._http.post(f"{self.url}/start-durable-execution", json=body) as response:
            answer = await response.json(content_type=None)
            if response.status >= 300:
                raise RuntimeError(f"start-durable-execution failed: {answer}")
        arn: str = answer["ExecutionArn"]
        return arn

    async def history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        page: dict[str, Any] = {}
        while True:
            response = await self._lambda.get_durable_execution_history(
                DurableExecutionArn=arn, IncludeExecutionData=True, **page
            )
            events.extend(response.get("Events", []))
            marker = response.get("NextMarker")
            if not marker:
                return events
            page = {"Marker": marker}

    async def execution(self, arn: str) -> dict[str, Any]:
        response: dict[str, Any] = await self._lambda.get_durable_execution(DurableExecutionArn=arn)
        return response

    async def complete_callback(self, callback_id: str, action: CallbackAction) -> None:
        if action.operation == "success":
            extra = (
                {} if action.payload is None else {"Result": json.dumps(action.payload).encode()}
            )
            await self._lambda.send_durable_execution_callback_success(
                CallbackId=callback_id, **extra
            )
        elif action.operation == "failure":
            error = {
                key: action.payload[key]
                for key in ("ErrorType", "ErrorMessage", "ErrorData", "StackTrace")
                if key in (action.payload or {})
            }
            await self._lambda.send_durable_execution_callback_failure(
                CallbackId=callback_id, **({"Error": error} if error else {})
            )
        else:
            await self._lambda.send_durable_execution_callback_heartbeat(CallbackId=callback_id)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def clock(self) -> float:
        return time.monotonic()

    def expected_history(
        self, expected: list[dict[str, Any]], actual: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return tolerate_absent_details(expected, actual)
