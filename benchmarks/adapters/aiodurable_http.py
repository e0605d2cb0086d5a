"""aiodurable against its own local backend over HTTP: the wire included.

The workflows are the in-process adapter's. A :class:`~aiodurable.local.LocalBackend`
serves Lambda's REST routes on loopback (:class:`~aiodurable.local.http.LocalHttpServer`)
and invokes the handler itself; the handler talks back to it through
``LambdaServiceClient`` on a real aiobotocore Lambda client (signing, HTTP, botocore
parsing). Backend, server and handler share this process and its event loop, so CPU
time includes the service side. A run is timed from ``start_execution`` to completion.
"""

from __future__ import annotations

import asyncio
import atexit
import os
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from aiodurable.local import LocalBackend
from aiodurable.local.http import LocalHttpServer
from aiodurable.service import LambdaServiceClient
from benchmarks.adapters import aiodurable as in_process
from benchmarks.adapters.base import Adapter, Handler, NotAvailable
from benchmarks.fake_lambda import FakeLambdaApi

__all__ = ["AiodurableHttpAdapter"]

FUNCTION = "bench"


class _Counting:
    """Counts the handler's API calls into the run's counters, then forwards them."""

    def __init__(self, client: Any, adapter: AiodurableHttpAdapter) -> None:
        self._client = client
        self._adapter = adapter

    async def checkpoint_durable_execution(self, **kwargs: Any) -> Any:
        api = self._adapter.api
        api.checkpoint_calls += 1
        api.updates += len(kwargs.get("Updates") or [])
        return await self._client.checkpoint_durable_execution(**kwargs)

    async def get_durable_execution_state(self, **kwargs: Any) -> Any:
        self._adapter.api.state_calls += 1
        return await self._client.get_durable_execution_state(**kwargs)


class _Target:
    """What the backend invokes: the durable handler, on the HTTP service client."""

    def __init__(self, handler: Any, adapter: AiodurableHttpAdapter) -> None:
        self._handler = handler
        self._adapter = adapter

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        return await self._handler.run(event, lambda_context, client=self._adapter.service)


class AiodurableHttpAdapter(Adapter):
    sdk = "aiodurable-http"

    def __init__(self) -> None:
        for key, value in (
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            os.environ.setdefault(key, value)
        self._runner = asyncio.Runner()
        self._stack: AsyncExitStack | None = None
        self.api = FakeLambdaApi()
        self.service: LambdaServiceClient | None = None
        self.backend: LocalBackend | None = None
        atexit.register(self._close)

    def handler(self, workload: str) -> Handler:
        if workload == "W2":
            raise NotAvailable("W2 replays a recorded history; it is measured in-process only")
        handler = in_process.AiodurableAdapter().handler(workload)
        self._runner.run(self._open(handler))
        return handler

    async def _open(self, handler: Any) -> None:
        stack = AsyncExitStack()
        backend = await stack.enter_async_context(
            LocalBackend(functions={FUNCTION: _Target(handler, self)})
        )
        server = await stack.enter_async_context(LocalHttpServer(backend, port=0))
        client = await stack.enter_async_context(
            get_session().create_client(
                "lambda",
                region_name="us-east-1",
                endpoint_url=server.endpoint_url,
                config=AioConfig(retries={"mode": "standard", "total_max_attempts": 1}),
            )
        )
        self.service = LambdaServiceClient(_Counting(client, self))
        self.backend = backend
        self._stack = stack

    def bind(self, api: FakeLambdaApi) -> None:
        self.api = api

    def invoke(self, handler: Handler, event: dict[str, Any]) -> dict[str, Any]:
        execution = event["InitialExecutionState"]["Operations"][0]
        payload = execution["ExecutionDetails"]["InputPayload"]
        return self._runner.run(self._execute(payload))

    async def _execute(self, payload: str) -> dict[str, Any]:
        assert self.backend is not None
        info = self.backend.start_execution(FUNCTION, payload)
        done = await self.backend.wait_for_completion(info.arn)
        if str(done.status) != "SUCCEEDED":
            return {"Status": str(done.status), "Error": done.error}
        return {"Status": "SUCCEEDED", "Result": done.result}

    def _close(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            self._runner.run(stack.aclose())
        self._runner.close()


ADAPTER = AiodurableHttpAdapter
