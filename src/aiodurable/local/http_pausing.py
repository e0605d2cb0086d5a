"""``PauseDurableExecution``, ``ResumeDurableExecution`` and ``DeleteDurableExecution`` on
Lambda's REST routes, and the pause fields of ``GetDurableExecution``.

:mod:`aiodurable.local.http` mounts :func:`pausing_routes` beside its own; errors raised
here (:class:`~aiodurable.local.errors.ServiceError`) get the service's error answer
there. The semantics live in :mod:`aiodurable.local.pausing`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from aiodurable.local.backend import LocalBackend
from aiodurable.local.encoding import to_api_json
from aiodurable.local.records import ExecutionInfo

__all__ = ["execution_fields", "pausing_routes"]

Handler = Callable[[web.Request, list[str]], Awaitable[web.StreamResponse]]
Read = Callable[[web.Request], Awaitable[Any]]


class _PauseBody(msgspec.Struct, rename="pascal"):
    client_token: str | None = None
    reason: str | None = None
    execution_timeout_paused: bool = True


class _ResumeBody(msgspec.Struct, rename="pascal"):
    client_token: str | None = None
    reason: str | None = None


def _accepted(data: Any) -> web.Response:
    return web.Response(body=json.dumps(data), status=202, content_type="application/json")


def pausing_routes(
    backend: LocalBackend, read_json: Read
) -> list[tuple[str, tuple[str, ...], Handler]]:
    """The three routes, as ``(method, path pattern, handler)``; ``read_json`` reads a
    request's JSON body (``None`` when empty) within the server's body budget."""

    async def pause(request: web.Request, args: list[str]) -> web.StreamResponse:
        body = msgspec.convert(await read_json(request) or {}, _PauseBody)
        backend.pause_execution(
            args[0],
            reason=body.reason,
            execution_timeout_paused=body.execution_timeout_paused,
            client_token=body.client_token,
        )
        return _accepted({})

    async def resume(request: web.Request, args: list[str]) -> web.StreamResponse:
        body = msgspec.convert(await read_json(request) or {}, _ResumeBody)
        backend.resume_execution(args[0], reason=body.reason, client_token=body.client_token)
        return _accepted({})

    async def delete(request: web.Request, args: list[str]) -> web.StreamResponse:
        when = backend.delete_execution(args[0])
        return _accepted(to_api_json({"DeletionRequestTimestamp": when}))

    base = ("2025-12-01", "durable-executions", "*")
    return [
        ("POST", (*base, "pause"), pause),
        ("POST", (*base, "resume"), resume),
        ("DELETE", base, delete),
    ]


def execution_fields(info: ExecutionInfo, include_data: bool) -> dict[str, Any]:
    """``DurableConfig``, ``ExpectedExecutionTimeoutTimestamp`` and ``PauseDetails``."""
    data: dict[str, Any] = {}
    if info.execution_timeout is not None:
        data["DurableConfig"] = {"ExecutionTimeout": info.execution_timeout}
    if info.expected_timeout_at is not None:
        data["ExpectedExecutionTimeoutTimestamp"] = info.expected_timeout_at
    if info.pause_requested_at is not None:
        pause: dict[str, Any] = {
            "PauseRequestTimestamp": info.pause_requested_at,
            "ExecutionTimeoutPaused": bool(info.execution_timeout_paused),
        }
        if include_data and info.pause_reason is not None:
            pause["Reason"] = info.pause_reason
        data["PauseDetails"] = pause
    return data
