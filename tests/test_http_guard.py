"""The local HTTP server refuses what a web page or a slow client could do to it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import botocore.session  # type: ignore[import-untyped]
import pytest
from aiohttp import web

from aiodurable.local import LocalBackend, VirtualClock
from aiodurable.local.http import LocalHttpServer

from .local.workflows import order

ROOT = Path(__file__).resolve().parent.parent
INVOKE = "/2015-03-31/functions/order/invocations"
EVENT = b'{"order_id": "o-1", "items": ["a"]}'


@pytest.fixture
async def server() -> AsyncIterator[LocalHttpServer]:
    async with (
        LocalBackend(clock=VirtualClock(), functions={"order": order}) as backend,
        LocalHttpServer(
            backend, port=0, allowed_hosts=["durable.test"], idle_timeout=0.5, body_timeout=0.5
        ) as served,
    ):
        yield served


async def _request(
    server: LocalHttpServer, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(server.endpoint_url) as http,
        http.request(method, path, **kwargs) as response,
    ):
        return response.status, {
            "type": response.headers.get("x-amzn-ErrorType"),
            "body": await response.read(),
        }


# -- DNS rebinding ---------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:9014", "127.0.0.1.evil"])
async def test_a_request_for_another_host_name_is_refused(
    server: LocalHttpServer, host: str
) -> None:
    status, answer = await _request(server, "GET", "/2015-03-31/functions", headers={"Host": host})
    assert (status, answer["type"]) == (403, "AccessDeniedException")
    assert b"--allow-host" in answer["body"]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "durable.test", "[::1]"])
async def test_the_bound_address_loopback_names_and_allowed_names_are_served(
    server: LocalHttpServer, host: str
) -> None:
    headers = {"Host": host.format(port=server.port)}
    status, _ = await _request(server, "GET", "/2015-03-31/functions", headers=headers)
    assert status == 200


async def test_a_server_on_every_interface_answers_ip_addresses_but_not_names() -> None:
    async with (
        LocalBackend(clock=VirtualClock()) as backend,
        LocalHttpServer(backend, host="0.0.0.0", port=0) as served,
    ):
        local = LocalHttpServer(backend, port=served.port)  # the same port, via loopback
        ok, _ = await _request(local, "GET", "/2015-03-31/functions", headers={"Host": "10.1.2.3"})
        refused, _ = await _request(
            local, "GET", "/2015-03-31/functions", headers={"Host": "rebound.example"}
        )
    assert (ok, refused) == (200, 403)


# -- cross-site requests ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain;charset=UTF-8"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {},
    ],
    ids=["text", "form", "multipart", "none"],
)
async def test_a_request_a_web_page_could_send_cross_site_starts_nothing(
    server: LocalHttpServer, headers: dict[str, str]
) -> None:
    async with (
        aiohttp.ClientSession(server.endpoint_url, skip_auto_headers=["Content-Type"]) as http,
        http.post(INVOKE, data=EVENT, headers=headers) as response,
    ):
        assert response.status == 415
        assert response.headers["x-amzn-ErrorType"] == "UnsupportedMediaTypeException"
    assert server.backend.executions("order") == []


async def test_an_empty_post_needs_proof_too(server: LocalHttpServer) -> None:
    path = "/2025-12-01/durable-execution-callbacks/abc/heartbeat"
    bare, _ = await _request(server, "POST", path, skip_auto_headers=["Content-Type"])
    as_json, answer = await _request(server, "POST", path, json={})
    assert (bare, as_json, answer["type"]) == (415, 404, "ResourceNotFoundException")


async def test_json_content_types_and_signed_requests_are_served(server: LocalHttpServer) -> None:
    for headers in (
        {"Content-Type": "application/json"},
        {"Content-Type": "application/x-amz-json-1.1"},
        {"Authorization": "AWS4-HMAC-SHA256 Credential=local/..."},
        {"X-Amz-Invocation-Type": "Event"},
    ):
        status, _ = await _request(server, "POST", INVOKE, data=EVENT, headers=headers)
        assert status in (200, 202), headers
    assert len(server.backend.executions("order")) == 4


def _botocore(endpoint: str) -> Any:
    return botocore.session.get_session().create_client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


async def test_botocore_keeps_working_on_every_kind_of_route(server: LocalHttpServer) -> None:
    # botocore sends no Content-Type for Invoke, callback success or heartbeat: its
    # signature headers are what a page cannot send.
    client = _botocore(server.endpoint_url)
    errors = client.exceptions

    def calls() -> None:
        answer = client.invoke(FunctionName="order", Payload=EVENT)
        assert answer["StatusCode"] == 200 and "FunctionError" not in answer
        with pytest.raises(errors.InvalidRequestContentException, match="parse request body"):
            client.invoke(FunctionName="order", Payload=b"order o-1, please")
        with pytest.raises(errors.ResourceNotFoundException):
            client.send_durable_execution_callback_success(CallbackId="abc", Result=b"1")
        with pytest.raises(errors.ResourceNotFoundException):
            client.send_durable_execution_callback_heartbeat(CallbackId="abc")
        with pytest.raises(errors.ResourceNotFoundException):
            client.send_durable_execution_callback_failure(CallbackId="abc")

    await asyncio.to_thread(calls)


# -- a mounted sub-app shares the checks ----------------------------------------------------
async def test_a_mounted_sub_app_passes_the_same_checks() -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="page")

    ui = web.Application()
    ui.router.add_get("/", page)
    ui.router.add_post("/act", page)
    async with (
        LocalBackend(clock=VirtualClock()) as backend,
        LocalHttpServer(backend, port=0, mounts={"/ui": ui}) as served,
    ):
        shown, answer = await _request(served, "GET", "/ui/")
        rebound, _ = await _request(served, "GET", "/ui/", headers={"Host": "evil.example"})
        forged, _ = await _request(served, "POST", "/ui/act", data="x")
        sent, _ = await _request(served, "POST", "/ui/act", json={})
        api, _ = await _request(served, "GET", "/2015-03-31/functions")
    assert (shown, answer["body"], rebound, forged, sent, api) == (200, b"page", 403, 415, 200, 200)


# -- slow clients ----------------------------------------------------------------------------
async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    async with asyncio.timeout(seconds):
        return await reader.read()  # until the server closes the connection


async def test_an_idle_connection_is_closed(server: LocalHttpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        assert await _closed_within(reader, 5) == b""
    finally:
        writer.close()


async def test_a_connection_that_never_finishes_its_headers_is_closed(
    server: LocalHttpServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        await writer.drain()
        assert await _closed_within(reader, 5) == b""
    finally:
        writer.close()


async def test_a_body_that_never_arrives_is_answered_with_a_timeout(
    server: LocalHttpServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"POST /2015-03-31/functions/order/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
        )
        await writer.drain()
        async with asyncio.timeout(5):
            answer = await reader.readuntil(b"\r\n\r\n")
            answer += await reader.read(500)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"RequestTimeoutException" in answer
    assert server.backend.executions("order") == []


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match, status
    return int(match[1]) / 1024


async def _upload(endpoint: str, body: bytes, count: int) -> list[int]:
    path = "/2025-12-01/durable-execution-callbacks/nobody/succeed"
    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(endpoint, connector=connector) as http:

        async def one() -> int:
            headers = {"Content-Type": "application/json"}
            async with http.post(path, data=body, headers=headers) as response:
                return response.status

        return await asyncio.gather(*(one() for _ in range(count)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_forty_concurrent_8_mb_uploads_do_not_add_hundreds_of_mb() -> None:
    served = subprocess.Popen(
        [sys.executable, "-m", "aiodurable.cli", "serve", "--port", "0", "--clock", "virtual"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert served.stdout is not None
        banner = served.stdout.readline()
        endpoint = re.search(r"listening on (http://\S+)", banner)
        assert endpoint, banner
        body = b'"' + b"x" * (8 * 1024 * 1024 - 1024) + b'"'
        asyncio.run(_upload(endpoint[1], body[:100], 1))  # warm up: every module loaded
        before = _peak_rss_mb(served.pid)
        statuses = asyncio.run(_upload(endpoint[1], body, 40))
        after = _peak_rss_mb(served.pid)
    finally:
        served.send_signal(signal.SIGTERM)
        served.wait(timeout=30)
    assert statuses == [400] * 40  # every body was read, then refused (over 1 MB)
    # Unbounded, 40 bodies held at once would add 320 MB or more.
    assert after - before < 100, (before, after)
