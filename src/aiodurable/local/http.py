"""The local backend on Lambda's REST routes (restJson1), served with aiohttp.

Anything that speaks the Lambda API — botocore/boto3, the AWS CLI, aiobotocore, our own
:class:`~aiodurable.service.lambda_client.LambdaServiceClient` — can use it with
``endpoint_url=http://127.0.0.1:<port>``:

* ``Invoke`` (``POST /2015-03-31/functions/{FunctionName}/invocations``, optionally with
  ``X-Amz-Durable-Execution-Name``) starts an execution; ``X-Amz-Invocation-Type: Event``
  answers at once, otherwise the call waits for the result.
* the durable-execution APIs under ``/2025-12-01/``: checkpoint, state, get, history,
  list by function, stop, pause, resume, delete, and the callback success / failure /
  heartbeat calls.

Timestamps in responses are epoch seconds; errors carry ``x-amzn-ErrorType`` and a JSON
body with ``Type`` and ``message``, so botocore raises ``ClientError`` with the code.

Every request passes the checks of :mod:`aiodurable.local.http_guard` (Host header,
cross-site proof on state-changing requests, body timeouts and a budget for large
bodies). More routes — the web UI — are mounted as aiohttp sub-apps through ``mounts``
and pass the same checks.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import msgspec
from aiohttp import web

from aiodurable.errors import CheckpointError
from aiodurable.local.backend import LocalBackend
from aiodurable.local.encoding import to_api_json
from aiodurable.local.errors import (
    ExecutionStalledError,
    InvalidParameterError,
    ServiceError,
)
from aiodurable.local.http_guard import BodyBudget, HostCheck, guard_middleware
from aiodurable.local.http_pausing import execution_fields, pausing_routes
from aiodurable.local.records import ExecutionInfo
from aiodurable.local.store import ExecutionQuery
from aiodurable.local.validation import parse_count, parse_function_name
from aiodurable.wire import ErrorObject, OperationUpdate

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "LocalHttpServer", "make_app"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9014
#: Lambda's request limit is 6 MB; 8 MB leaves room for JSON overhead in checkpoints.
MAX_BODY = 8 * 1024 * 1024

Handler = Callable[[web.Request, list[str]], Awaitable[web.StreamResponse]]


class _CheckpointBody(msgspec.Struct, rename="pascal"):
    checkpoint_token: str
    updates: list[OperationUpdate] = msgspec.field(default_factory=list)
    client_token: str | None = None


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _error(code: str, message: str, status: int) -> web.Response:
    return _json(
        {"Type": "User" if status < 500 else "Service", "message": message, "Message": message},
        status=status,
        headers={"x-amzn-ErrorType": code},
    )


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    return value.lower() == "true"


#: The most executions one ``ListDurableExecutionsByFunction`` page returns.
_MAX_LISTED = 1000


def _int(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value is None:
        return default
    number = parse_count(value)
    if number is None:
        raise InvalidParameterError(
            f"{name} must be a non-negative integer (at most 18 digits), got {value[:64]!r}"
        )
    return number


def _decode_json(raw: bytes | str) -> Any:
    # msgspec, unlike json.loads, refuses NaN and lone surrogates ("\ud800"), which no
    # store or response could encode later. Deep nesting exhausts the stack in either.
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"the request body is not JSON: {exc}") from None


def _execution_json(info: ExecutionInfo, include_data: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "DurableExecutionArn": info.arn,
        "DurableExecutionName": info.name,
        "FunctionArn": info.function_arn,
        "Status": info.status.value,
        "StartTimestamp": info.start_timestamp,
        "EndTimestamp": info.end_timestamp,
        "Version": "$LATEST",
    }
    if include_data:
        data["InputPayload"] = info.input_payload
        data["Result"] = info.result
    data["ExecutionDataIncluded"] = include_data
    if info.error is not None:
        data["Error"] = info.error
    data.update(execution_fields(info, include_data))
    return to_api_json({k: v for k, v in data.items() if v is not None})  # type: ignore[no-any-return]


def _withhold_payloads(value: Any) -> Any:
    """History without execution data: every payload container is emptied."""
    if isinstance(value, dict):
        if "Truncated" in value:
            return {"Truncated": True}
        return {k: _withhold_payloads(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_withhold_payloads(v) for v in value]
    return value


def _paged(items: list[Any], request: web.Request, default: int) -> tuple[list[Any], str | None]:
    marker = request.query.get("Marker") or "0"
    start = parse_count(marker)
    if start is None:
        raise InvalidParameterError(f"Marker {marker[:64]!r} was not returned by this service")
    size = _int(request, "MaxItems", default) or default
    page = items[start : start + size]
    return page, (str(start + size) if start + size < len(items) else None)


class _Routes:
    def __init__(self, backend: LocalBackend, budget: BodyBudget) -> None:
        self.backend = backend
        self.budget = budget
        self.table: list[tuple[str, tuple[str, ...], Handler]] = [
            ("POST", ("2015-03-31", "functions", "*", "invocations"), self.invoke),
            ("GET", ("2015-03-31", "functions"), self.list_functions),
            ("POST", ("2025-12-01", "durable-executions", "*", "checkpoint"), self.checkpoint),
            ("GET", ("2025-12-01", "durable-executions", "*", "state"), self.state),
            ("GET", ("2025-12-01", "durable-executions", "*", "history"), self.history),
            ("POST", ("2025-12-01", "durable-executions", "*", "stop"), self.stop),
            ("GET", ("2025-12-01", "durable-executions", "*"), self.get_execution),
            *pausing_routes(backend, self._body_json),
            ("GET", ("2025-12-01", "functions", "*", "durable-executions"), self.list_executions),
            ("POST", ("2025-12-01", "durable-execution-callbacks", "*", "succeed"), self.succeed),
            ("POST", ("2025-12-01", "durable-execution-callbacks", "*", "fail"), self.fail),
            ("POST", ("2025-12-01", "durable-execution-callbacks", "*", "heartbeat"), self.beat),
        ]

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        # Match on the raw path: an ARN label is one percent-encoded segment with '/' in it.
        segments = [unquote(s) for s in request.url.raw_path.strip("/").split("/")]
        for method, pattern, handler in self.table:
            if method == request.method and len(pattern) == len(segments):
                args = [s for p, s in zip(pattern, segments, strict=True) if p == "*"]
                if all(p in ("*", s) for p, s in zip(pattern, segments, strict=True)):
                    return await self._call(handler, request, args)
        return _error(
            "UnknownOperationException",
            f"{request.method} {request.path} is not an operation of this local backend",
            404,
        )

    async def _call(
        self, handler: Handler, request: web.Request, args: list[str]
    ) -> web.StreamResponse:
        try:
            return await handler(request, args)
        except ServiceError as exc:
            return _error(exc.code, exc.message, exc.status_code)
        except CheckpointError as exc:
            return _error(exc.error_code or "ServiceException", str(exc), exc.status_code or 500)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _error("InvalidParameterValueException", str(exc), 400)
        except web.HTTPRequestEntityTooLarge as exc:
            return _error("RequestTooLargeException", exc.text or "request too large", 413)
        except TimeoutError:
            return _error(
                "RequestTimeoutException",
                f"the request body did not arrive within {self.budget.read_seconds:g} s",
                408,
            )

    async def _read(self, request: web.Request) -> bytes:
        return await self.budget.read(request)

    async def _body_json(self, request: web.Request) -> Any:
        raw = await self._read(request)
        return _decode_json(raw) if raw else None

    # -- executions ------------------------------------------------------------------------
    def _function(self, function_name: str) -> str:
        try:
            name, _ = parse_function_name(
                function_name, region=self.backend.region, account=self.backend.account
            )
        except CheckpointError as exc:
            raise InvalidParameterError(str(exc)) from exc
        return name

    async def list_functions(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        functions = [
            {"FunctionName": name, "FunctionArn": self.backend.function_arn(name)}
            for name in self.backend.function_names()
        ]
        return _json({"Functions": functions})

    async def invoke(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        function_name = self._function(args[0])
        raw = await self._read(request)
        payload: str | None = None
        if raw:
            try:
                _decode_json(raw)
            except InvalidParameterError as exc:
                return _error(
                    "InvalidRequestContentException",
                    f"Could not parse request body into json: {str(exc).split(': ', 1)[-1]}",
                    400,
                )
            payload = raw.decode()
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return web.Response(status=204)
        info = self.backend.start_execution(
            function_name,
            payload,
            name=request.headers.get("X-Amz-Durable-Execution-Name"),
            asynchronous=invocation_type == "Event",
        )
        headers = {"X-Amz-Durable-Execution-Arn": info.arn, "X-Amz-Executed-Version": "$LATEST"}
        if invocation_type == "Event":
            return web.Response(status=202, headers=headers)
        try:
            info = await self.backend.wait_for_completion(info.arn)
        except ExecutionStalledError as exc:
            raise ServiceError(str(exc)) from exc
        if info.status == "SUCCEEDED":
            return web.Response(body=info.result or "null", headers=headers)
        error = info.error or ErrorObject()
        body = {
            "errorType": error.error_type or info.status.value,
            "errorMessage": error.error_message or "",
        }
        return _json(body, headers={**headers, "X-Amz-Function-Error": "Unhandled"})

    async def checkpoint(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        body = msgspec.convert(await self._body_json(request) or {}, _CheckpointBody)
        response = self.backend.checkpoint_now(
            args[0], body.checkpoint_token, body.updates, client_token=body.client_token
        )
        return _json(to_api_json(response))

    async def state(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        token = request.query.get("CheckpointToken")
        if not token:
            raise InvalidParameterError("CheckpointToken is required")
        page = self.backend.get_state_now(
            args[0],
            token,
            marker=request.query.get("Marker"),
            max_items=_int(request, "MaxItems", 100),
        )
        return _json(to_api_json(page))

    async def get_execution(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        info = self.backend.describe(args[0])
        return _json(_execution_json(info, _flag(request, "IncludeExecutionData", True)))

    async def history(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        events: list[Any] = to_api_json(self.backend.history(args[0]))
        if not _flag(request, "IncludeExecutionData", True):
            events = _withhold_payloads(events)
        if _flag(request, "ReverseOrder", False):
            events.reverse()
        page, marker = _paged(events, request, 100)
        return _json({"Events": page, **({"NextMarker": marker} if marker else {})})

    async def stop(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        body = await self._body_json(request)
        error = msgspec.convert(body, ErrorObject) if body else None
        when = self.backend.stop_execution(args[0], error)
        return _json(to_api_json({"StopTimestamp": when}))

    async def list_executions(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        statuses = request.query.getall("Statuses", [])
        after = request.query.get("StartedAfter")
        before = request.query.get("StartedBefore")
        query = ExecutionQuery(
            function_name=self._function(args[0]),
            statuses=frozenset(statuses) if statuses else None,
            name=request.query.get("DurableExecutionName"),
            started_after=_timestamp(after) if after is not None else None,
            started_before=_timestamp(before) if before is not None else None,
            reverse=_flag(request, "ReverseOrder", False),
        )
        # A page is one indexed query of the store, whatever the store holds.
        page, marker = self.backend.list_executions(
            query,
            marker=request.query.get("Marker") or None,
            limit=min(_int(request, "MaxItems", 100) or 100, _MAX_LISTED),
        )
        items = [
            {
                "DurableExecutionArn": i.arn,
                "DurableExecutionName": i.name,
                "FunctionArn": i.function_arn,
                "Status": i.status.value,
                "StartTimestamp": i.start_timestamp,
                **({"EndTimestamp": i.end_timestamp} if i.end_timestamp else {}),
            }
            for i in page
        ]
        return _json(
            to_api_json({"DurableExecutions": items, **({"NextMarker": marker} if marker else {})})
        )

    # -- callbacks -------------------------------------------------------------------------
    async def succeed(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        raw = await self._read(request)
        self.backend.send_callback_success(args[0], raw if raw else None)
        return _json({})

    async def fail(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        body = await self._body_json(request)
        error = msgspec.convert(body, ErrorObject) if body else None
        self.backend.send_callback_failure(args[0], error)
        return _json({})

    async def beat(self, request: web.Request, args: list[str]) -> web.StreamResponse:
        self.backend.send_callback_heartbeat(args[0])
        return _json({})


def _timestamp(value: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):  # not a number, or out of range
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidParameterError(f"{value[:64]!r} is not a timestamp") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def make_app(
    backend: LocalBackend,
    *,
    host: str = DEFAULT_HOST,
    allowed_hosts: Iterable[str] = (),
    mounts: Mapping[str, web.Application] | None = None,
    body_timeout: float = 30.0,
    body_budget: int = 16 * 1024 * 1024,
    ui: bool = False,
) -> web.Application:
    """An aiohttp application serving ``backend`` on the Lambda routes.

    ``host`` is the address it is bound to and ``allowed_hosts`` further names it may be
    reached by (the Host check); ``mounts`` maps a path prefix (``"/ui"``) to a sub-app
    whose routes pass the same checks; ``body_budget`` bytes of large bodies are read at
    once at most, each within ``body_timeout`` seconds. ``ui`` adds the web UI
    (:mod:`aiodurable.local.ui`) under ``/ui/``.
    """
    budget = BodyBudget(body_budget, max_size=MAX_BODY, read_seconds=body_timeout)
    routes = _Routes(backend, budget)
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[guard_middleware(HostCheck(host, allowed_hosts), _error)],
    )
    for prefix, sub_app in (mounts or {}).items():
        app.add_subapp(prefix, sub_app)
    if ui:
        from aiodurable.local.ui import add_ui_routes

        add_ui_routes(app, backend)
    # Every other path, even one with a newline in it ("." would not match it): an unknown
    # path gets the service's JSON error rather than aiohttp's plain-text 404.
    app.router.add_route("*", r"/{tail:[\s\S]*}", routes.dispatch)
    return app


class LocalHttpServer:
    """Serve a running :class:`LocalBackend` over HTTP (loopback by default).

    async with LocalBackend() as backend, LocalHttpServer(backend, port=0) as server:
        print(server.endpoint_url)

    Requests must name the server in their Host header (its address, ``localhost`` on
    loopback, or one of ``allowed_hosts``); state-changing ones must carry a JSON
    Content-Type or AWS signature headers. A connection with no request in flight for
    ``idle_timeout`` seconds is closed, and so is a request whose body takes longer than
    ``body_timeout``. ``mounts`` adds sub-apps (path prefix → ``web.Application``).
    """

    def __init__(
        self,
        backend: LocalBackend,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        allowed_hosts: Iterable[str] = (),
        mounts: Mapping[str, web.Application] | None = None,
        idle_timeout: float = 15.0,
        body_timeout: float = 30.0,
        ui: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.backend = backend
        #: Serve HTTPS with this context (the cold-start benchmark: an endpoint as Lambda's).
        self.ssl_context = ssl_context
        self.ui = ui
        self.host = host
        self.port = port
        self.allowed_hosts = tuple(allowed_hosts)
        self.mounts = dict(mounts or {})
        self.idle_timeout = idle_timeout
        self.body_timeout = body_timeout
        self._runner: web.AppRunner | None = None
        self._holds = ExitStack()

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the running server (the real port once started);
        ``https://`` with an ``ssl_context``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "http" if self.ssl_context is None else "https"
        return f"{scheme}://{host}:{self.port}"

    async def __aenter__(self) -> LocalHttpServer:
        app = make_app(
            self.backend,
            host=self.host,
            allowed_hosts=self.allowed_hosts,
            mounts=self.mounts,
            body_timeout=self.body_timeout,
            ui=self.ui,
        )
        # The keep-alive timer also runs from the moment a connection opens, so one that
        # never completes its request headers is closed too.
        runner = web.AppRunner(
            app, access_log=None, keepalive_timeout=self.idle_timeout, lingering_time=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        # Anyone may answer a callback through these routes: virtual time must not jump
        # past a deadline a person or a process could still beat.
        self._holds.enter_context(self.backend.clock.answerable())
        for address in runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])
                break
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._holds.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
