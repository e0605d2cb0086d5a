"""Lambda's Runtime API, served to one function process (one sandbox).

A runtime interface client (``python -m awslambdaric app.handler``, or any language's)
asks ``GET /2018-06-01/runtime/invocation/next`` for work and answers with
``POST …/invocation/{request-id}/response`` or ``…/error``; ``POST …/init/error`` says
the function could not even start. Each sandbox has its own server on loopback, so the
server knows which process is asking without any other state.

The event comes with Lambda's headers: ``Lambda-Runtime-Aws-Request-Id``,
``Lambda-Runtime-Deadline-Ms``, ``Lambda-Runtime-Invoked-Function-Arn`` and
``Lambda-Runtime-Trace-Id``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import web

from aiodurable.local.function_targets import FunctionInvocationError, function_error
from aiodurable.local.http_guard import HostCheck

__all__ = ["PendingInvocation", "RuntimeApiServer"]

PREFIX = "/2018-06-01/runtime"


@dataclass
class PendingInvocation:
    """One invocation handed to the function process; ``outcome`` gets its answer."""

    request_id: str
    payload: bytes
    timeout: float  #: seconds from the moment the process takes it
    function_arn: str
    trace_id: str = field(default_factory=lambda: _trace_id())
    outcome: asyncio.Future[bytes] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    #: Set when the process takes it (``/next``); ``deadline`` is then epoch seconds.
    picked_up: asyncio.Event = field(default_factory=asyncio.Event)
    deadline: float = 0.0


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Sampled=0"


def _error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"errorType": error_type, "errorMessage": message}, status=status)


class RuntimeApiServer:
    """The Runtime API of one sandbox on ``127.0.0.1``; :attr:`address` is ``host:port``."""

    def __init__(self) -> None:
        self._inbox: asyncio.Queue[PendingInvocation] = asyncio.Queue()
        self.current: PendingInvocation | None = None
        #: The error the process reported from ``/init/error``, if any.
        self.init_error: FunctionInvocationError | None = None
        self.init_failed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.address = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024, middlewares=[self._host_check])
        app.router.add_get(f"{PREFIX}/invocation/next", self._next)
        app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/response", self._response)
        app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/error", self._invocation_error)
        app.router.add_post(f"{PREFIX}/init/error", self._init_error)
        # A process that dies mid-request must not hold the server open: its waiting
        # ``/next`` is cancelled, and stopping waits one second at most.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        self.address = f"127.0.0.1:{port}"

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def hand_over(self, invocation: PendingInvocation) -> None:
        """Give ``invocation`` to the process's next (or waiting) ``/next`` call."""
        self.current = invocation
        self._inbox.put_nowait(invocation)

    # -- routes ----------------------------------------------------------------------------
    _hosts = HostCheck("127.0.0.1")

    @web.middleware
    async def _host_check(self, request: web.Request, handler: object) -> web.StreamResponse:
        # Loopback only, and only under this server's own name: a web page cannot reach the
        # routes through DNS rebinding. (They take no cookies and need a request id.)
        if not self._hosts.allows(request.headers.get("Host")):
            return _error(403, "AccessDenied", "this Runtime API serves loopback only")
        assert callable(handler)
        response: web.StreamResponse = await handler(request)
        return response

    async def _next(self, request: web.Request) -> web.StreamResponse:
        invocation = await self._inbox.get()
        invocation.deadline = time.time() + invocation.timeout
        invocation.picked_up.set()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(invocation.deadline * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
        }
        return web.Response(
            body=invocation.payload, headers=headers, content_type="application/json"
        )

    def _pending(self, request: web.Request) -> PendingInvocation | None:
        current = self.current
        if current is None or current.request_id != request.match_info["request_id"]:
            return None
        return current

    async def _response(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        invocation = self._pending(request)
        if invocation is None:
            return _error(400, "InvalidRequestID", "no invocation in flight has this id")
        if not invocation.outcome.done():
            invocation.outcome.set_result(body)
        return web.json_response({"status": "OK"}, status=202)

    async def _invocation_error(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        invocation = self._pending(request)
        if invocation is None:
            return _error(400, "InvalidRequestID", "no invocation in flight has this id")
        error = function_error(
            body, request.headers.get("Lambda-Runtime-Function-Error-Type") or "Unhandled"
        )
        if not invocation.outcome.done():
            invocation.outcome.set_exception(error)
        return web.json_response({"status": "OK"}, status=202)

    async def _init_error(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fallback = request.headers.get("Lambda-Runtime-Function-Error-Type") or "Runtime.Unknown"
        self.init_error = function_error(body, fallback)
        self.init_failed.set()
        return web.json_response({"status": "OK"}, status=202)


def error_body(error: FunctionInvocationError) -> bytes:
    """Lambda's error body for ``error`` (what an Invoke caller reads)."""
    return json.dumps({"errorType": error.error_type, "errorMessage": error.message}).encode()
