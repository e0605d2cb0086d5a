"""Functions that run outside the backend's process, reached through Lambda's Invoke route.

An :class:`InvokeEndpoint` is a function served by anything that answers
``POST /2015-03-31/functions/{name}/invocations`` as Lambda does: ``sam local
start-lambda``, another server, a test shim. The backend invokes it with the durable
invocation event exactly as it invokes an in-process handler, and the function checkpoints
back to the backend's HTTP routes (its SDK pointed there with ``AWS_ENDPOINT_URL_LAMBDA``).

A function error comes back as Lambda returns it (``X-Amz-Function-Error`` and a body with
``errorType`` / ``errorMessage``) and fails the invocation with that type, as the service
records it (``InvocationCompleted`` with the error) before it invokes again.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec

from aiodurable.errors import DurableOperationError
from aiodurable.wire import ErrorObject

__all__ = ["FunctionInvocationError", "InvokeEndpoint", "PlainInvokeEndpoint"]


class FunctionInvocationError(DurableOperationError):
    """An invocation of a function in another process failed as Lambda reports it.

    ``error_type`` is Lambda's: the handler's exception type, ``Runtime.ExitError``,
    ``Sandbox.Timedout``, ``Runtime.OutOfMemory``, …
    """

    def to_error_object(self) -> ErrorObject:
        # Recorded under Lambda's type (the service's InvocationCompleted error), not ours.
        error = super().to_error_object()
        return msgspec.structs.replace(error, error_type=self.error_type or error.error_type)


def function_error(body: bytes, fallback_type: str) -> FunctionInvocationError:
    """The error a Lambda error body (``{"errorType": …, "errorMessage": …}``) stands for."""
    try:
        fields = json.loads(body) if body else {}
    except ValueError:
        fields = {"errorMessage": body.decode(errors="replace")}
    if not isinstance(fields, dict):
        fields = {"errorMessage": str(fields)}
    trace = fields.get("stackTrace")
    return FunctionInvocationError(
        str(fields.get("errorMessage") or ""),
        error_type=str(fields.get("errorType") or fallback_type),
        stack_trace=[str(line) for line in trace] if isinstance(trace, list) else None,
    )


class _Endpoint:
    def __init__(self, url: str, function_name: str, *, timeout: float = 900.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                f"{url!r} is not an http:// or https:// URL of a Lambda Invoke endpoint "
                "(e.g. http://127.0.0.1:3001 for 'sam local start-lambda')"
            )
        self.url = url.rstrip("/")
        self.function_name = function_name
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, {self.function_name!r})"

    async def _post(self, payload: bytes) -> bytes:
        url = f"{self.url}/2015-03-31/functions/{quote(self.function_name, safe='')}/invocations"
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Invocation-Type": "RequestResponse",
        }
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, data=payload, headers=headers) as response,
            ):
                body = await response.read()
                if response.status >= 300:
                    text = body[:500].decode(errors="replace")
                    raise FunctionInvocationError(
                        f"{url} answered HTTP {response.status}: {text}",
                        error_type=response.headers.get("x-amzn-ErrorType") or "ServiceException",
                    )
                if "X-Amz-Function-Error" in response.headers:
                    raise function_error(body, "Unhandled")
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FunctionInvocationError(
                f"could not invoke {self.function_name} at {self.url}: {exc!r}. Is the "
                "endpoint running?",
                error_type="ServiceException",
            ) from exc


class InvokeEndpoint(_Endpoint):
    """A durable function at a Lambda Invoke endpoint (register it like a handler).

    backend.register("orders", InvokeEndpoint("http://127.0.0.1:3001", "orders"))
    """

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        """Invoke the function with one durable invocation event; its output envelope."""
        body = await self._post(json.dumps(event).encode())
        return json.loads(body) if body else None


class PlainInvokeEndpoint(_Endpoint):
    """A plain (non-durable) function at a Lambda Invoke endpoint, as a chained-invoke target:
    called once with the payload, its answer is the invoke's result."""

    async def __call__(self, payload: Any) -> Any:
        body = await self._post(json.dumps(payload).encode())
        return json.loads(body) if body else None
