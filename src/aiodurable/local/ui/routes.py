"""The UI's aiohttp handlers: two pages, their refreshable fragments, and the actions.

Pages and fragments are plain GETs; every action is a same-origin ``POST`` with a JSON
body and the per-server token (see :mod:`aiodurable.local.ui.security`). Actions call
the backend's public API, as the Lambda routes do.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import msgspec
from aiohttp import web

from aiodurable.errors import CheckpointError
from aiodurable.local.backend import LocalBackend
from aiodurable.local.errors import InvalidParameterError, ServiceError
from aiodurable.local.records import ExecutionStatus
from aiodurable.local.ui.execution_page import execution_fragment, execution_page_body
from aiodurable.local.ui.layout import esc, page
from aiodurable.local.ui.list_page import (
    execution_url,
    executions_fragment,
    executions_page_body,
)
from aiodurable.local.ui.security import UiGuard
from aiodurable.local.ui.timeline import build_timeline
from aiodurable.wire import ErrorObject

__all__ = ["UiRoutes"]

_STATIC_TYPES = {"ui.js": "text/javascript", "ui.css": "text/css"}
_STATUSES = {s.value for s in ExecutionStatus}


class _Start(msgspec.Struct, forbid_unknown_fields=True):
    function: str
    input: str | None = None
    name: str | None = None


class _Callback(msgspec.Struct, forbid_unknown_fields=True):
    callback_id: str
    payload: str | None = None
    error_type: str | None = None
    error_message: str | None = None


class _OnExecution(msgspec.Struct, forbid_unknown_fields=True):
    """Stop, pause, resume or delete one execution."""

    arn: str
    message: str | None = None


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _fragment(request: web.Request, version: int, render: Any) -> web.Response:
    """``204`` when the client already shows ``version`` (``?since=``), else the HTML."""
    if request.query.get("since") == str(version):
        return web.Response(status=204)
    return _html(render())


class UiRoutes:
    """The UI of one backend; :meth:`add_to` puts its routes on an application."""

    def __init__(self, backend: LocalBackend, guard: UiGuard) -> None:
        self.backend = backend
        self.guard = guard
        static = resources.files("aiodurable.local.ui") / "static"
        # Read once per server: two small files shipped in the package.
        self._static = {name: (static / name).read_bytes() for name in _STATIC_TYPES}

    def add_to(self, app: web.Application) -> None:
        wrap = self.guard.wrap
        get = [
            ("/", self.root),
            ("/ui", self.root),
            ("/ui/", self.executions_page),
            ("/ui/fragments/executions", self.executions_fragment),
            ("/ui/execution", self.execution_page),
            ("/ui/fragments/execution", self.execution_fragment),
            ("/ui/static/{name}", self.static),
        ]
        for path, handler in get:
            app.router.add_get(path, wrap(handler, changes_state=False), allow_head=False)
        post = [
            ("/ui/api/start", self.start),
            ("/ui/api/stop", self.stop),
            ("/ui/api/pause", self.pause),
            ("/ui/api/resume", self.resume),
            ("/ui/api/delete", self.delete),
            ("/ui/api/callback/succeed", self.callback_succeed),
            ("/ui/api/callback/fail", self.callback_fail),
            ("/ui/api/callback/heartbeat", self.callback_heartbeat),
        ]
        for path, handler in post:
            app.router.add_post(path, wrap(handler, changes_state=True))
        # Any other path under /ui is the UI's 404, with the UI's headers, not the
        # service API's.
        app.router.add_route("*", r"/ui/{tail:.*}", wrap(self.not_found, changes_state=False))

    # -- pages -----------------------------------------------------------------------------
    def _clock_note(self) -> str:
        now = self.backend.clock.now().strftime("%Y-%m-%d %H:%M:%S UTC")
        kind = "virtual clock" if self.backend.clock.virtual else "real clock"
        return f"{kind} · {now}"

    def _page(self, title: str, body: str) -> web.Response:
        return _html(page(title, body, token=self.guard.token, clock_note=self._clock_note()))

    def _filters(self, request: web.Request) -> tuple[str | None, str | None]:
        status = request.query.get("status") or None
        function = request.query.get("function") or None
        return (status if status in _STATUSES else None), function

    async def root(self, request: web.Request) -> web.StreamResponse:
        # Returned, not raised, so that the guard adds its headers to it too.
        return web.Response(status=302, headers={"Location": "/ui/"})

    async def executions_page(self, request: web.Request) -> web.StreamResponse:
        status, function = self._filters(request)
        now = self.backend.clock.now()
        body = executions_page_body(self.backend, status=status, function=function, now=now)
        return self._page("Executions", body)

    async def executions_fragment(self, request: web.Request) -> web.StreamResponse:
        status, function = self._filters(request)
        now = self.backend.clock.now()
        return _fragment(
            request,
            self.backend.version,
            lambda: executions_fragment(self.backend, status=status, function=function, now=now),
        )

    def _execution_html(self, arn: str) -> str:
        backend = self.backend
        info = backend.describe(arn)
        now = backend.clock.now()
        timeline = build_timeline(backend.operations(arn), backend.history(arn), now=now)
        return execution_fragment(info, timeline, version=backend.version, now=now)

    def _arn(self, request: web.Request) -> str:
        arn = request.query.get("arn")
        if not arn:
            raise InvalidParameterError("the page needs ?arn=<execution ARN>")
        return arn

    async def execution_page(self, request: web.Request) -> web.StreamResponse:
        try:
            arn = self._arn(request)
            fragment = self._execution_html(arn)
        except ServiceError as exc:
            body = (
                '<nav class="crumbs"><a href="/ui/">Executions</a></nav>'
                f'<p class="empty">{esc(exc.message)}</p>'
            )
            page_html = page("Not found", body, token=self.guard.token, clock_note="")
            return _html(page_html, status=exc.status_code)
        return self._page("Execution", execution_page_body(fragment, arn))

    async def execution_fragment(self, request: web.Request) -> web.StreamResponse:
        try:
            arn = self._arn(request)
            return _fragment(request, self.backend.version, lambda: self._execution_html(arn))
        except ServiceError as exc:
            return web.json_response({"message": exc.message}, status=exc.status_code)

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPNotFound(reason=f"{request.path} is not a page of the aiodurable UI")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        body = self._static.get(name)
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type=_STATIC_TYPES[name], charset="utf-8")

    # -- actions ---------------------------------------------------------------------------
    async def _act(self, request: web.Request, kind: type[Any], action: Any) -> web.Response:
        try:
            try:
                body = msgspec.json.decode(await request.read(), type=kind)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise InvalidParameterError(f"bad request body: {exc}") from None
            answer = action(body) or {}
        except ServiceError as exc:
            return web.json_response({"message": exc.message}, status=exc.status_code)
        except CheckpointError as exc:
            return web.json_response({"message": str(exc)}, status=exc.status_code or 400)
        return web.json_response(answer)

    async def start(self, request: web.Request) -> web.StreamResponse:
        def start(body: _Start) -> dict[str, str]:
            text = body.input.strip() if body.input else ""
            if text:
                try:
                    msgspec.json.decode(text)
                except msgspec.DecodeError as exc:
                    raise InvalidParameterError(f"the input is not JSON: {exc}") from None
            info = self.backend.start_execution(
                body.function, text or None, name=(body.name or "").strip() or None
            )
            return {"arn": info.arn, "location": execution_url(info.arn)}

        return await self._act(request, _Start, start)

    async def stop(self, request: web.Request) -> web.StreamResponse:
        def stop(body: _OnExecution) -> None:
            error = ErrorObject(error_message=body.message or "Stopped from the aiodurable UI")
            self.backend.stop_execution(body.arn, error)

        return await self._act(request, _OnExecution, stop)

    async def pause(self, request: web.Request) -> web.StreamResponse:
        def pause(body: _OnExecution) -> None:
            self.backend.pause_execution(body.arn, reason=body.message or "Paused from the UI")

        return await self._act(request, _OnExecution, pause)

    async def resume(self, request: web.Request) -> web.StreamResponse:
        def resume(body: _OnExecution) -> None:
            self.backend.resume_execution(body.arn, reason=body.message or "Resumed from the UI")

        return await self._act(request, _OnExecution, resume)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        def delete(body: _OnExecution) -> dict[str, str]:
            self.backend.delete_execution(body.arn)
            return {"location": "/ui/"}  # the page of a deleted execution is gone

        return await self._act(request, _OnExecution, delete)

    async def callback_succeed(self, request: web.Request) -> web.StreamResponse:
        def succeed(body: _Callback) -> None:
            if body.payload is not None and body.payload.strip():
                try:
                    msgspec.json.decode(body.payload)
                except msgspec.DecodeError as exc:
                    raise InvalidParameterError(
                        f'the result is not JSON: {exc}; a text needs quotes, as in "yes"'
                    ) from None
            self.backend.send_callback_success(body.callback_id, body.payload)

        return await self._act(request, _Callback, succeed)

    async def callback_fail(self, request: web.Request) -> web.StreamResponse:
        def fail(body: _Callback) -> None:
            error = ErrorObject(
                error_type=body.error_type or None, error_message=body.error_message or None
            )
            self.backend.send_callback_failure(body.callback_id, error)

        return await self._act(request, _Callback, fail)

    async def callback_heartbeat(self, request: web.Request) -> web.StreamResponse:
        def beat(body: _Callback) -> None:
            self.backend.send_callback_heartbeat(body.callback_id)

        return await self._act(request, _Callback, beat)
