"""What keeps a web page, or a slow client, from abusing the local HTTP server.

Binding to loopback keeps other machines out, not the browser on this one:

* **DNS rebinding**: a page on ``attacker.example`` can make its name resolve to
  127.0.0.1 and read our answers as same-origin. Its requests still say
  ``Host: attacker.example``, so every request whose Host is not an address of this
  server (or a name the user allowed) is refused.
* **Cross-site requests (CSRF)**: a page can POST to any address without asking, as long
  as the request is "simple": no Content-Type or a form / text one, and no custom
  headers. Every state-changing request must therefore carry what such a request cannot:
  another Content-Type (``application/json``, ``application/x-amz-json-1.1``, ...) or an
  AWS header (``Authorization``, ``X-Amz-*``). botocore sends no Content-Type for
  ``Invoke`` or a callback success, but always signs (``Authorization``, ``X-Amz-Date``).
* **Slow and large requests**: idle and half-open connections are closed (aiohttp's
  keep-alive timer runs from the moment a connection opens; a body must arrive within
  ``body_timeout``), and large bodies are read a few at a time (:class:`BodyBudget`), so
  forty 8 MB uploads wait their turn instead of all being buffered at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

__all__ = ["BodyBudget", "HostCheck", "guard_middleware", "needs_cross_site_proof"]

#: Content types a page may send cross-site without a CORS preflight (the Fetch standard).
SIMPLE_CONTENT_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "127.0.0.1", "::1"})

ErrorFactory = Callable[[str, str, int], web.StreamResponse]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HostCheck:
    """Which ``Host`` headers name this server.

    The bound address, ``localhost`` and loopback addresses when bound to loopback, any IP
    address when bound to every interface (an IP literal cannot be rebound), and the
    names in ``allowed`` (``"*"`` allows every name).
    """

    def __init__(self, bound_host: str, allowed: Iterable[str] = ()) -> None:
        self.names = {_normal(bound_host), *(_normal(name) for name in allowed)}
        self.any_name = "*" in self.names
        self.any_address = _normal(bound_host) in ("", "0.0.0.0", "::")
        if self.names & LOOPBACK_NAMES or _is_loopback(bound_host):
            self.names |= LOOPBACK_NAMES

    def allows(self, host_header: str | None) -> bool:
        """Whether a request with this ``Host`` header is meant for this server."""
        if host_header is None:
            return False
        name = _host_name(host_header)
        if self.any_name or name in self.names:
            return True
        if not self.any_address:
            return False
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


def needs_cross_site_proof(request: web.BaseRequest) -> bool:
    """Whether a state-changing request looks like one a web page could send cross-site."""
    if request.method in SAFE_METHODS:
        return False
    headers = request.headers
    if "Authorization" in headers or any(
        name.lower().startswith(("x-amz-", "amz-sdk-")) for name in headers
    ):
        return False
    content_type = headers.get("Content-Type")
    if content_type is None:
        return True
    essence = content_type.split(";", 1)[0].strip().lower()
    return essence in SIMPLE_CONTENT_TYPES or not essence


class BodyBudget:
    """At most ``limit`` bytes of request bodies being read at once.

    A body of up to ``small`` bytes is read at once; a larger one (or one of unknown
    length, counted as ``max_size``) first reserves its size and waits while others hold
    the budget. Waiting requests are not read from, so TCP holds their senders back.
    """

    def __init__(
        self, limit: int, *, max_size: int, read_seconds: float, small: int = 64 * 1024
    ) -> None:
        self.limit = limit
        self.read_seconds = read_seconds
        self.small = small
        self.max_size = max_size
        self.in_use = 0
        self._freed = asyncio.Condition()

    async def read(self, request: web.BaseRequest) -> bytes:
        """The whole body, read within ``read_seconds`` of starting (:class:`TimeoutError`)."""
        size = request.content_length
        if size is None:
            size = self.max_size if request.body_exists else 0
        if size <= self.small:
            return await self._read(request)
        size = min(size, self.max_size, self.limit)
        async with self._freed:
            await self._freed.wait_for(lambda: self.in_use + size <= self.limit)
            self.in_use += size
        try:
            return await self._read(request)
        finally:
            async with self._freed:
                self.in_use -= size
                self._freed.notify_all()

    async def _read(self, request: web.BaseRequest) -> bytes:
        # Not request.read(): it keeps the body on the request, and aiohttp keeps the last
        # request of a keep-alive connection alive until the next one arrives, so forty
        # idle connections would pin forty bodies.
        body = bytearray()
        async with asyncio.timeout(self.read_seconds):
            async for chunk in request.content.iter_any():
                body += chunk
                if len(body) > self.max_size:
                    raise web.HTTPRequestEntityTooLarge(
                        max_size=self.max_size, actual_size=len(body)
                    )
        return bytes(body)


def guard_middleware(hosts: HostCheck, error: ErrorFactory) -> Any:
    """The Host and cross-site checks, for every route of the app and its sub-apps."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        if not hosts.allows(host):
            return error(
                "AccessDeniedException",
                f"Host {(host or '')[:100]!r} does not name this local server (a web page "
                "may be trying DNS rebinding). If it is yours, allow it: aiodurable serve "
                "--allow-host NAME (LocalHttpServer(allowed_hosts=[...])).",
                403,
            )
        if needs_cross_site_proof(request):
            return error(
                "UnsupportedMediaTypeException",
                "a state-changing request needs a JSON Content-Type (application/json) or a "
                "signed AWS request (Authorization / X-Amz-* headers), which a web page "
                "cannot send to another site; e.g. curl -H 'Content-Type: application/json'",
                415,
            )
        return await handler(request)

    return guard


def _normal(name: str) -> str:
    return name.strip().strip("[]").lower().rstrip(".")


def _host_name(host_header: str) -> str:
    value = host_header.strip().lower()
    if value.startswith("["):  # [::1]:9014
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(_normal(host)).is_loopback
    except ValueError:
        return _normal(host) in LOOPBACK_NAMES
