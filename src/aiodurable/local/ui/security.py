"""What keeps the web UI to its own origin.

The UI changes state (it completes callbacks, stops and starts executions), and any web
page the developer visits could try to make their browser send those requests to
``127.0.0.1``. Three rules stop that, each enough on its own against a cross-site page:

* **A per-server token.** Every state-changing request carries ``X-Aiodurable-Token``
  with a random value made when the routes are added. The pages embed it in a
  ``<meta>`` tag; another origin cannot read those pages (no CORS headers, no framing),
  and a custom header is something a cross-site form cannot send at all. There is no
  cookie to steal or to ride along.
* **Same origin only.** A state-changing request whose ``Origin`` is not this server's
  own, or whose ``Sec-Fetch-Site`` is not ``same-origin``, is refused; bodies must be
  ``application/json``, which a cross-site form cannot send either.
* **No embedding.** Every response says ``frame-ancestors 'none'`` and
  ``Cross-Origin-Resource-Policy: same-origin``, and subresource loads from other sites
  (``<script src>``, ``<img>``, ``fetch``) are refused from their ``Sec-Fetch-*``
  headers. Only a top-level navigation from elsewhere (a link) is let through: it
  shows the page to the person who clicked, and the linking site learns nothing.

A page served under a foreign ``Host`` (DNS rebinding) never reaches these handlers:
the server's Host check (:mod:`aiodurable.local.http_guard`) refuses it first.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["TOKEN_HEADER", "UiGuard"]

TOKEN_HEADER = "X-Aiodurable-Token"

_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

UiHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refused(message: str) -> web.Response:
    return web.json_response({"message": message}, status=403, headers=_HEADERS)


class UiGuard:
    """Wraps every UI handler: checks the request, adds the isolation headers."""

    def __init__(self) -> None:
        #: The per-server token; the pages embed it, state-changing requests echo it.
        self.token = secrets.token_urlsafe(32)

    def check(self, request: web.Request, *, changes_state: bool) -> str | None:
        """Why ``request`` is refused, or ``None`` when it may go through."""
        site = request.headers.get("Sec-Fetch-Site")
        if changes_state:
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"{request.scheme}://{request.host}":
                return f"cross-origin request from {origin!r} refused"
            if site is not None and site != "same-origin":
                return f"request from a {site} page refused"
            if request.content_type != "application/json":
                return "UI actions take an application/json body"
            sent = request.headers.get(TOKEN_HEADER, "")
            if not hmac.compare_digest(sent.encode(), self.token.encode()):
                return f"missing or wrong {TOKEN_HEADER}: reload the UI page and try again"
            return None
        if site in ("cross-site", "same-site"):
            navigating = (
                request.headers.get("Sec-Fetch-Mode") == "navigate"
                and request.headers.get("Sec-Fetch-Dest") == "document"
            )
            if not navigating:
                return f"the UI cannot be embedded or fetched by a {site} page"
        return None

    def wrap(self, handler: UiHandler, *, changes_state: bool) -> UiHandler:
        """``handler`` behind :meth:`check`, its responses with the isolation headers."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            reason = self.check(request, changes_state=changes_state)
            if reason is not None:
                return _refused(reason)
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # a 404 raised deep down: answered here
                response = web.json_response(
                    {"message": exc.reason}, status=exc.status, headers=_HEADERS
                )
            response.headers.update(_HEADERS)
            return response

        return guarded
