"""A local HTTP server speaking the durable execution REST routes, for client tests.

It records every request. It answers from a queue of scripted replies, or, when the queue
is empty and a :class:`ServiceHarness` is attached, like the service itself: updates are
applied, tokens chain, and timestamps go out as epoch seconds (docs/protocol.md §1.3).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import msgspec
import pytest
from aiohttp import web

from aiodurable.errors import CheckpointError
from aiodurable.wire import OperationUpdate

from .service_harness import ServiceHarness

_ROUTE = re.compile(r"^/2025-12-01/durable-executions/(?P<arn>[^/]+)/(?P<action>checkpoint|state)$")


@dataclass
class Recorded:
    method: str
    raw_path: str  # as sent, still percent-encoded
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # decoded JSON, or None

    @property
    def arn(self) -> str:
        match = _ROUTE.match(self.raw_path)
        assert match, self.raw_path
        return unquote(match["arn"])


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    error_code: str | None = None
    #: When set, the server waits for it before answering (to provoke a read timeout).
    hold: asyncio.Event | None = None


class ServiceStub:
    def __init__(self, service: ServiceHarness | None = None) -> None:
        self.service = service
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.url = ""
        self._runner: web.AppRunner | None = None

    def reply(self, status: int = 200, body: Any = None, *, error_code: str | None = None) -> None:
        self.replies.append(Reply(status, {} if body is None else body, error_code))

    def error(self, status: int, code: str, message: str) -> None:
        """Queue an error the way Lambda returns one (restJson1)."""
        self.reply(status, {"Type": "User", "message": message}, error_code=code)

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append(
            Recorded(
                method=request.method,
                raw_path=request.raw_path.partition("?")[0],
                query=dict(request.query),
                headers=dict(request.headers),
                body=json.loads(raw) if raw else None,
            )
        )
        if self.replies:
            reply = self.replies.popleft()
            if reply.hold is not None:
                await reply.hold.wait()
            return _respond(reply)
        if self.service is not None:
            return _respond(await self._serve(self.requests[-1]))
        return _respond(Reply(500, {"message": "stub: no reply queued"}, "ServiceException"))

    async def _serve(self, request: Recorded) -> Reply:
        assert self.service is not None
        arn = request.arn
        try:
            if request.raw_path.endswith("/checkpoint"):
                body = request.body
                updates = msgspec.convert(body.get("Updates", []), list[OperationUpdate])
                result: Any = await self.service.checkpoint(
                    arn, body["CheckpointToken"], updates, client_token=body.get("ClientToken")
                )
            else:
                result = await self.service.get_state(
                    arn,
                    request.query["CheckpointToken"],
                    marker=request.query["Marker"],
                    max_items=int(request.query["MaxItems"]),
                )
        except CheckpointError as exc:
            return Reply(400, {"Type": "User", "message": str(exc)}, exc.error_code)
        return Reply(200, _epoch_seconds(msgspec.to_builtins(result)))


def _respond(reply: Reply) -> web.Response:
    headers = {"x-amzn-RequestId": "stub-request"}
    if reply.error_code:
        headers["x-amzn-ErrorType"] = reply.error_code
    return web.json_response(reply.body, status=reply.status, headers=headers)


def _epoch_seconds(value: Any) -> Any:
    """Turn every ``…Timestamp`` ISO string into float epoch seconds, as the API does."""
    if isinstance(value, list):
        return [_epoch_seconds(item) for item in value]
    if isinstance(value, dict):
        return {
            key: datetime.fromisoformat(item).timestamp()
            if key.endswith("Timestamp") and isinstance(item, str)
            else _epoch_seconds(item)
            for key, item in value.items()
        }
    return value


def isolate_from_aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Nothing from the host (profiles, endpoints, instance metadata) may leak into a test."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
