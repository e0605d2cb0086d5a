"""A web UI for the local backend, served beside its Lambda routes.

``aiodurable serve`` turns it on (``--no-ui`` turns it off); in code::

    async with LocalBackend() as backend, LocalHttpServer(backend, ui=True) as server:
        print(f"{server.endpoint_url}/ui/")

It lists the executions, draws each one's operations as a timeline, and answers
callbacks, sends heartbeats, stops and starts executions. Pages are rendered on the
server; a small script and style sheet ship in the package (``static/``). The UI is
reachable from its own origin only; see :mod:`aiodurable.local.ui.security`.
"""

from __future__ import annotations

from aiohttp import web

from aiodurable.local.backend import LocalBackend
from aiodurable.local.ui.routes import UiRoutes
from aiodurable.local.ui.security import TOKEN_HEADER, UiGuard

__all__ = ["TOKEN_HEADER", "add_ui_routes"]


def add_ui_routes(app: web.Application, backend: LocalBackend) -> str:
    """Add the UI's routes (``/`` and ``/ui/…``) to ``app``; returns the server's token.

    Add them before any catch-all route of ``app``, and behind the server's Host check.
    """
    guard = UiGuard()
    UiRoutes(backend, guard).add_to(app)
    return guard.token
