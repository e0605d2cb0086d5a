"""Isolation and security of the local backend.

What one execution holds (its checkpoint token, its callbacks) reaches only that
execution; callback ids cannot be guessed; the HTTP server listens on loopback unless
told otherwise; payloads stay out of logs; the SQLite file is private to its owner.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import signal
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
import pytest

from aiodurable import DurableContext, durable_execution
from aiodurable.cli import main
from aiodurable.errors import CheckpointError
from aiodurable.local import LocalBackend, SqliteStore, VirtualClock
from aiodurable.local.errors import ResourceNotFoundError
from aiodurable.local.http import LocalHttpServer
from aiodurable.service.lambda_client import LambdaServiceClient
from aiodurable.wire import (
    CallbackOptions,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    WaitOptions,
)
from tests.local.held import HeldTarget, Invocation

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = re.compile(r"http://127\.0\.0\.1:\d+")

SECRET_INPUT = "sk-input-5e5ac7b0d1c2"
SECRET_STEP = "sk-step-91f0e3aa7c44"
SECRET_RESULT = "sk-result-0b6d2f8e1a37"


@durable_execution
async def secretive(event: dict[str, Any], ctx: DurableContext) -> dict[str, str]:
    """Reads a secret input, keeps a secret step result, returns a secret result."""

    def fetch_key() -> str:
        return SECRET_STEP

    key = await ctx.step(fetch_key, name="fetch-key")
    assert event["api_key"] == SECRET_INPUT and key == SECRET_STEP
    return {"token": SECRET_RESULT}


def _start_callbacks(count: int, prefix: str = "cb") -> list[OperationUpdate]:
    return [
        OperationUpdate(
            id=f"{prefix}-{i}",
            type=OperationType.CALLBACK,
            action=OperationAction.START,
            callback_options=CallbackOptions(timeout_seconds=0, heartbeat_timeout_seconds=0),
        )
        for i in range(count)
    ]


@dataclass
class Execution:
    """A running execution whose invocation the test holds open."""

    invocation: Invocation
    token: str

    @property
    def arn(self) -> str:
        return self.invocation.arn


class Backend:
    def __init__(self, backend: LocalBackend, held: HeldTarget, endpoint: str) -> None:
        self.backend = backend
        self.held = held
        self.endpoint = endpoint

    async def hold(self) -> Execution:
        arn = self.backend.start_execution("held", "{}").arn
        invocation = await self.held.next()
        assert invocation.arn == arn
        return Execution(invocation, invocation.token)

    async def open_callbacks(self, execution: Execution, count: int) -> list[str]:
        response = await self.backend.checkpoint(
            execution.arn, execution.token, _start_callbacks(count)
        )
        assert response.checkpoint_token is not None
        execution.token = response.checkpoint_token
        ids = [
            op.callback_details.callback_id
            for op in response.new_execution_state.operations
            if op.callback_details and op.callback_details.callback_id
        ]
        assert len(ids) == count
        return ids

    def status(self, execution: Execution, op_id: str) -> OperationStatus:
        (op,) = [op for op in self.backend.operations(execution.arn) if op.id == op_id]
        return op.status


#: What a real client sends: state-changing requests without it are refused as cross-site.
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def local() -> AsyncIterator[Backend]:
    held = HeldTarget()
    async with (
        LocalBackend(clock=VirtualClock(auto_advance=False), functions={"held": held}) as backend,
        LocalHttpServer(backend, port=0) as server,
    ):
        yield Backend(backend, held, server.endpoint_url)


@pytest.fixture
async def http(local: Backend) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(local.endpoint, headers=JSON) as session:
        yield session


@pytest.fixture
async def lambda_client(
    local: Backend, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LambdaServiceClient]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    client = await LambdaServiceClient.create(region_name="us-east-1", endpoint_url=local.endpoint)
    try:
        yield client
    finally:
        await client.close()


# -- the server listens on loopback ---------------------------------------------------------
async def test_the_http_server_listens_on_loopback_unless_told_otherwise() -> None:
    async with LocalBackend() as backend:
        assert LocalHttpServer(backend).host == "127.0.0.1"
        async with LocalHttpServer(backend, port=0) as server:
            assert LOOPBACK.fullmatch(server.endpoint_url)


def test_aiodurable_serve_listens_on_loopback_by_default() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "aiodurable.cli", "serve", "--port", "0", "--clock", "virtual"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert re.search(r"listening on http://127\.0\.0\.1:\d+ ", banner), banner


def test_aiodurable_run_serves_on_loopback_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "run",
            "tests.local.workflows:order",
            "--input",
            '{"order_id": "o-1", "items": ["a"]}',
            "--clock",
            "virtual",
            "--serve",
            "0",
        ]
    )
    assert code == 0
    assert re.search(
        r"serving the local backend on http://127\.0\.0\.1:\d+\n", capsys.readouterr().out
    )


# -- callback ids ---------------------------------------------------------------------------
async def test_callback_ids_carry_at_least_128_random_bits(local: Backend) -> None:
    execution = await local.hold()
    ids = await local.open_callbacks(execution, 2000)

    alphabet = set("".join(ids))
    bits_per_char = (len(alphabet) - 1).bit_length()  # 16 symbols: 4 bits
    assert len(set(ids)) == len(ids), "callback ids repeat"
    assert {len(i) for i in ids} == {48}
    assert alphabet == set("0123456789abcdef")
    assert 48 * bits_per_char >= 128
    # No position is fixed (a prefix, a counter, a timestamp): every one takes all values.
    assert all(len({i[position] for i in ids}) == 16 for position in range(48))


async def test_a_callback_id_completes_only_its_own_executions_callback(
    local: Backend, http: aiohttp.ClientSession
) -> None:
    a, b = await local.hold(), await local.hold()
    (a_callback,) = await local.open_callbacks(a, 1)
    (b_callback,) = await local.open_callbacks(b, 1)

    async with http.post(
        f"/2025-12-01/durable-execution-callbacks/{a_callback}/succeed", data=b'"yes"'
    ) as response:
        assert response.status == 200

    assert local.status(a, "cb-0") is OperationStatus.SUCCEEDED
    assert local.status(b, "cb-0") is OperationStatus.STARTED
    assert local.backend.callback_execution(a_callback) == a.arn
    assert local.backend.callback_execution(b_callback) == b.arn


@pytest.mark.parametrize("action", ["succeed", "fail", "heartbeat"])
async def test_a_made_up_callback_id_is_not_found(
    local: Backend, http: aiohttp.ClientSession, action: str
) -> None:
    execution = await local.hold()
    (real,) = await local.open_callbacks(execution, 1)
    near_miss = real[:-1] + ("0" if real[-1] != "0" else "1")

    for made_up in (secrets.token_hex(24), near_miss, real.upper(), real[:32]):
        async with http.post(
            f"/2025-12-01/durable-execution-callbacks/{quote(made_up)}/{action}"
        ) as response:
            error = await response.json()
        assert response.status == 404
        assert response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
        assert error["message"] == f"Callback {made_up} not found"
    with pytest.raises(ResourceNotFoundError):
        local.backend.send_callback_success(secrets.token_hex(24), b"1")
    assert local.status(execution, "cb-0") is OperationStatus.STARTED


# -- checkpoint tokens ----------------------------------------------------------------------
async def _checkpoint(
    http: aiohttp.ClientSession, arn: str, token: str, updates: list[OperationUpdate]
) -> tuple[int, dict[str, Any]]:
    body = {"CheckpointToken": token, "Updates": msgspec.to_builtins(updates)}
    async with http.post(
        f"/2025-12-01/durable-executions/{quote(arn, safe='')}/checkpoint", json=body
    ) as response:
        return response.status, await response.json()


async def _state(http: aiohttp.ClientSession, arn: str, token: str) -> tuple[int, dict[str, Any]]:
    async with http.get(
        f"/2025-12-01/durable-executions/{quote(arn, safe='')}/state",
        params={"CheckpointToken": token},
    ) as response:
        return response.status, await response.json()


def _invalid_token(status: int, error: dict[str, Any]) -> bool:
    return status == 400 and error["message"].startswith("Invalid checkpoint token")


async def test_a_token_of_one_execution_cannot_checkpoint_another(
    local: Backend, http: aiohttp.ClientSession, lambda_client: LambdaServiceClient
) -> None:
    a, b = await local.hold(), await local.hold()
    step = OperationUpdate(id="s", type=OperationType.STEP, action=OperationAction.START)

    status, error = await _checkpoint(http, b.arn, a.token, [step])
    with pytest.raises(CheckpointError) as refused:
        await lambda_client.checkpoint(b.arn, a.token, [step])

    assert _invalid_token(status, error), error
    assert "belongs to execution" in error["message"]
    assert refused.value.retryable  # the runtime ends the invocation; nothing is written
    assert "s" not in [op.id for op in local.backend.operations(b.arn)]
    # The refusals spent neither token.
    assert (await _checkpoint(http, a.arn, a.token, []))[0] == 200
    assert (await _checkpoint(http, b.arn, b.token, []))[0] == 200


async def test_a_token_of_one_execution_cannot_read_another_executions_state(
    local: Backend, http: aiohttp.ClientSession, lambda_client: LambdaServiceClient
) -> None:
    a, b = await local.hold(), await local.hold()
    (b_callback,) = await local.open_callbacks(b, 1)

    status, error = await _state(http, b.arn, a.token)
    with pytest.raises(CheckpointError) as refused:
        await lambda_client.get_state(b.arn, a.token, marker="")

    assert _invalid_token(status, error), error
    assert b_callback not in str(error)
    assert refused.value.retryable
    assert (await _state(http, b.arn, b.token))[0] == 200


async def test_a_token_of_a_finished_invocation_is_refused_as_retryable(
    local: Backend, http: aiohttp.ClientSession, lambda_client: LambdaServiceClient
) -> None:
    execution = await local.hold()
    nap = OperationUpdate(
        id="nap",
        type=OperationType.WAIT,
        action=OperationAction.START,
        wait_options=WaitOptions(wait_seconds=3600),
    )
    status, response = await _checkpoint(http, execution.arn, execution.token, [nap])
    assert status == 200
    last_token = response["CheckpointToken"]
    execution.invocation.finish({"Status": "PENDING"})
    await local.backend.wait_until(lambda: not local.backend.is_invoking(execution.arn))

    assert _invalid_token(*await _checkpoint(http, execution.arn, last_token, []))
    assert _invalid_token(*await _state(http, execution.arn, last_token))
    for call in (
        lambda_client.checkpoint(execution.arn, last_token, []),
        lambda_client.get_state(execution.arn, last_token, marker=""),
    ):
        with pytest.raises(CheckpointError) as refused:
            await call
        assert refused.value.retryable


# -- payloads stay out of logs --------------------------------------------------------------
SECRETS = (SECRET_INPUT, SECRET_STEP, SECRET_RESULT)
SECRET_EVENT = f'{{"api_key": "{SECRET_INPUT}"}}'


@contextmanager
def logs_at(level: int) -> Iterator[list[str]]:
    """Everything logged anywhere at ``level`` or above, formatted with its arguments."""
    lines: list[str] = []
    handler = logging.Handler(level)
    handler.emit = lambda record: lines.append(handler.format(record))  # type: ignore[method-assign]
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def test_payloads_are_not_logged_by_the_backend() -> None:
    with logs_at(logging.INFO) as lines:
        async with LocalBackend(
            clock=VirtualClock(), functions={"secretive": secretive}
        ) as backend:
            info = backend.start_execution("secretive", SECRET_EVENT)
            info = await backend.wait_for_completion(info.arn)

    assert info.result == f'{{"token":"{SECRET_RESULT}"}}'
    assert not [line for line in lines if any(s in line for s in SECRETS)]


async def test_payloads_are_not_logged_by_the_http_server(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with logs_at(logging.INFO) as lines:
        async with (
            LocalBackend(clock=VirtualClock(), functions={"secretive": secretive}) as backend,
            LocalHttpServer(backend, port=0) as server,
            aiohttp.ClientSession(server.endpoint_url, headers=JSON) as http,
        ):
            async with http.post(
                "/2015-03-31/functions/secretive/invocations", data=SECRET_EVENT
            ) as response:
                result = await response.text()
                arn = response.headers["X-Amz-Durable-Execution-Arn"]
            async with http.get(
                f"/2025-12-01/durable-executions/{quote(arn, safe='')}/history"
            ) as response:
                assert response.status == 200

    assert SECRET_RESULT in result
    out, err = capfd.readouterr()
    assert not [line for line in [*lines, out, err] if any(s in line for s in SECRETS)]


def test_payloads_are_not_logged_by_aiodurable_serve() -> None:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiodurable.cli",
            "serve",
            "tests.reliability.test_isolation:secretive",
            "--port",
            "0",
            "--clock",
            "virtual",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert server.stdout is not None
    try:
        banner = server.stdout.readline()
        endpoint = re.search(r"listening on (http://\S+)", banner)
        assert endpoint, banner
        result = asyncio.run(_invoke_secretive(endpoint[1]))
    finally:
        server.send_signal(signal.SIGTERM)
        output = banner + server.communicate(timeout=30)[0]

    assert SECRET_RESULT in result
    assert not [s for s in SECRETS if s in output], output


async def _invoke_secretive(endpoint: str) -> str:
    async with (
        aiohttp.ClientSession(endpoint, headers=JSON) as http,
        http.post("/2015-03-31/functions/secretive/invocations", data=SECRET_EVENT) as response,
    ):
        return await response.text()


def test_aiodurable_run_prints_the_result_and_no_other_payload(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with logs_at(logging.INFO) as lines:
        code = main(
            [
                "run",
                "tests.reliability.test_isolation:secretive",
                "--input",
                SECRET_EVENT,
                "--clock",
                "virtual",
            ]
        )

    out, err = capsys.readouterr()
    assert code == 0
    assert out.count(SECRET_RESULT) == 1, "the result the user asked for is printed once"
    assert SECRET_INPUT not in out + err and SECRET_STEP not in out + err
    assert not [line for line in lines if any(s in line for s in SECRETS)]


# -- the SQLite file ------------------------------------------------------------------------
@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


async def test_the_sqlite_store_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "local.db"
    with umask(0):  # the most permissive umask: the modes must not come from it
        store = SqliteStore(path)
        async with LocalBackend(
            store=store, clock=VirtualClock(), functions={"secretive": secretive}
        ) as backend:
            info = backend.start_execution("secretive", SECRET_EVENT)
            await backend.wait_for_completion(info.arn)

            # While it is open: the database and its -wal / -shm companions.
            modes = {file.name: stat.S_IMODE(file.stat().st_mode) for file in path.parent.iterdir()}

    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert modes == {"local.db": 0o600, "local.db-wal": 0o600, "local.db-shm": 0o600}
