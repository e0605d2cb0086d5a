"""aiobotocore's aiohttp session, loading the CA bundle only for a request that uses TLS.

aiobotocore builds the TLS context of a client's connections at its first request, CA
bundle included, whatever the endpoint's scheme. With OpenSSL 3, loading botocore's CA
bundle (about 130 certificates) is some 35 ms of CPU (docs/benchmarks.md, "Cold start"),
paid by a client whose endpoint is plain HTTP (``aiodurable serve``, an emulator, a
local proxy) although no byte of its traffic is encrypted. urllib3, under boto3, builds
a TLS context only for HTTPS connections; :class:`TLSOnDemandSession` does the same:

* a connection made for a plain-HTTP request without a proxy gets aiobotocore's context
  without its CA bundle, and the bundle is loaded (in a worker thread, as aiobotocore
  does) before the first HTTPS request that could use it;
* everything else (HTTPS first, proxies, ``verify=False``) is aiobotocore's own path.

A client's endpoint has one scheme. Should HTTP and HTTPS requests ever race for the
first connection, the HTTPS one could meet the context before its bundle: its handshake
fails verification (closed, not open), and the retry finds the bundle loaded.

An HTTPS endpoint pays exactly what it paid before, at the same moment.
"""

from __future__ import annotations

import asyncio
import ssl
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from aiobotocore.httpsession import AIOHTTPSession  # type: ignore[import-untyped]
from botocore.httpsession import get_cert_path  # type: ignore[import-untyped]

__all__ = ["TLSOnDemandSession"]

#: The scheme of the request being sent (read where aiobotocore builds the connector).
_scheme: ContextVar[str] = ContextVar("aiodurable_request_scheme", default="https")


class TLSOnDemandSession(AIOHTTPSession):  # type: ignore[misc]
    """:class:`aiobotocore.httpsession.AIOHTTPSession` that defers the CA bundle of a
    plain-HTTP endpoint's connections until a request needs TLS."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: A context waiting for its CA bundle, and the bundle.
        self._ca_pending: tuple[ssl.SSLContext, str] | None = None
        self._ca_loading: asyncio.Lock | None = None

    async def send(self, request: Any) -> Any:
        scheme = urlsplit(request.url).scheme.lower()
        if scheme != "http" and self._ca_pending is not None:
            await self._load_pending_ca()
        token = _scheme.set(scheme)
        try:
            return await super().send(request)
        finally:
            _scheme.reset(token)

    async def _load_pending_ca(self) -> None:
        if self._ca_loading is None:
            self._ca_loading = asyncio.Lock()
        async with self._ca_loading:
            if self._ca_pending is None:
                return
            context, ca_file = self._ca_pending
            await asyncio.to_thread(context.load_verify_locations, ca_file, None, None)
            self._ca_pending = None

    def _build_ssl_contexts(self, proxy_url: str | None) -> Any:
        # aiobotocore calls this (in a worker thread) when it makes a connector.
        ca_file = get_cert_path(self._verify) if self._verify else None
        if proxy_url is not None or _scheme.get() != "http" or not ca_file:
            return super()._build_ssl_contexts(proxy_url)
        # aiobotocore's verifying context (_build_verify_context), but for the CA bundle.
        context: ssl.SSLContext = self._get_ssl_context()
        context.check_hostname = True
        if self._cert_file:
            context.load_cert_chain(self._cert_file, self._key_file)
        self._ca_pending = (context, ca_file)
        return context, None
