"""Import aiohttp without loading the system CA bundle twice at import time.

When ``aiohttp.connector`` is imported it builds two module-level TLS contexts, the
defaults of a request that names no context of its own: one verifying
(``ssl.create_default_context()``) and one not (``SSLContext`` plus
``set_default_verify_paths()``). Each loads the system CA bundle, which with OpenSSL 3
is some 20 ms of CPU holding the GIL: about a fifth of what a cold start spends
importing aiodurable's default client (docs/benchmarks.md, "Cold start"). aiobotocore
never uses either context: every connection it makes carries the context it built from
botocore's CA bundle (or ``AWS_CA_BUNDLE``).

:func:`import_aiohttp` imports aiohttp with those two loads deferred to the first time
a context is used: each is given an instance-level ``wrap_bio`` and ``wrap_socket`` (the
two ways a TLS connection is made from a context) that load the CA bundle exactly as
the import would have, then remove themselves and go on. A request through aiohttp's
defaults (user code that calls ``aiohttp.ClientSession().get("https://...")``) is
verified against the same certificates as before, and pays the load at its first TLS
connection instead of at import.

Only the importing thread's calls are deferred, and only during the import; once
aiohttp is imported (by anyone), this does nothing.
"""

from __future__ import annotations

import ssl
import sys
import threading
from typing import Any

__all__ = ["import_aiohttp"]


def import_aiohttp() -> None:
    """Import aiohttp, deferring its default TLS contexts' CA loading to their first use."""
    if "aiohttp.connector" in sys.modules:
        return
    deferred: list[ssl.SSLContext] = []
    load = ssl.SSLContext.set_default_verify_paths
    own = "set_default_verify_paths" in ssl.SSLContext.__dict__
    importing = threading.get_ident()

    def record(context: ssl.SSLContext) -> None:
        if threading.get_ident() != importing:
            load(context)
        else:
            deferred.append(context)

    ssl.SSLContext.set_default_verify_paths = record  # type: ignore[method-assign,assignment]
    try:
        import aiohttp.connector  # noqa: F401
    finally:
        if own:
            ssl.SSLContext.set_default_verify_paths = load  # type: ignore[method-assign]
        else:
            del ssl.SSLContext.set_default_verify_paths
    for context in deferred:
        _load_before_first_use(context, load)


def _load_before_first_use(context: ssl.SSLContext, load: Any) -> None:
    lock = threading.Lock()  # a second thread's handshake must wait for the bundle

    def loaded() -> ssl.SSLContext:
        with lock:
            # Instance attributes shadow the class's methods; removing them restores those.
            if "wrap_bio" in vars(context):
                load(context)
                del context.wrap_bio, context.wrap_socket
        return context

    def wrap_bio(*args: Any, **kwargs: Any) -> ssl.SSLObject:
        return loaded().wrap_bio(*args, **kwargs)

    def wrap_socket(*args: Any, **kwargs: Any) -> ssl.SSLSocket:
        return loaded().wrap_socket(*args, **kwargs)

    context.wrap_bio = wrap_bio  # type: ignore[method-assign]
    context.wrap_socket = wrap_socket  # type: ignore[method-assign]
