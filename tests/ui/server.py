"""What the UI tests serve: the backend ``aiodurable serve`` runs, with the UI, on a free
loopback port, and a few executions in the states the UI shows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from aiodurable.local import LocalBackend, VirtualClock
from aiodurable.local.http import LocalHttpServer
from aiodurable.local.records import ExecutionInfo
from aiodurable.wire import Operation, OperationStatus, OperationType

from .workflows import approval, failing, restock, shipment

#: A fixed start, so the pages (and the screenshots in docs/) read the same every run.
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
FUNCTIONS = {
    "approval": approval,
    "failing": failing,
    "restock": restock,
    "shipment": shipment,
}


@dataclass
class Served:
    backend: LocalBackend
    server: LocalHttpServer

    @property
    def url(self) -> str:
        return self.server.endpoint_url

    def start(self, function: str, order_id: str, name: str | None = None) -> ExecutionInfo:
        return self.backend.start_execution(function, json.dumps({"order_id": order_id}), name=name)

    def pending_callback(self, arn: str) -> Operation | None:
        for op in self.backend.operations(arn):
            if op.type is OperationType.CALLBACK and op.status is OperationStatus.STARTED:
                return op
        return None

    async def until_waiting_for_callback(self, arn: str) -> str:
        """The callback id, once the execution waits for an answer (and nothing else)."""
        backend = self.backend
        await backend.wait_until(
            lambda: self.pending_callback(arn) is not None and not backend.is_invoking(arn)
        )
        op = self.pending_callback(arn)
        assert op is not None and op.callback_details is not None
        assert op.callback_details.callback_id is not None
        return op.callback_details.callback_id

    async def page(
        self, path: str, *, method: str = "GET", **kwargs: Any
    ) -> tuple[int, str, dict[str, str]]:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, **kwargs) as r,
        ):
            return r.status, await r.text(), dict(r.headers)


@asynccontextmanager
async def serve_ui(*, ui: bool = True, auto_advance: bool = True) -> AsyncIterator[Served]:
    """``aiodurable serve tests.ui.workflows`` in-process: virtual time, port 0."""
    clock = VirtualClock(START, auto_advance=auto_advance)
    async with (
        LocalBackend(clock=clock, functions=FUNCTIONS) as backend,
        LocalHttpServer(backend, port=0, ui=ui) as server,
    ):
        yield Served(backend, server)


async def with_history(served: Served) -> ExecutionInfo:
    """One execution in each state the list shows: stopped, failed, succeeded and one
    waiting for its approval (returned)."""
    stopped = served.start("approval", "o-1040", name="order-1040")
    await served.until_waiting_for_callback(stopped.arn)
    served.backend.stop_execution(stopped.arn)
    failed = served.start("failing", "o-1041", name="order-1041")
    await served.backend.wait_for_completion(failed.arn)
    done = served.start("approval", "o-1042", name="order-1042")
    callback_id = await served.until_waiting_for_callback(done.arn)
    served.backend.send_callback_success(callback_id, '"grace"')
    await served.backend.wait_for_completion(done.arn)
    waiting = served.start("approval", "o-1043", name="order-1043")
    await served.until_waiting_for_callback(waiting.arn)
    served.backend.advance(2)  # it has waited for its approver for two seconds now
    return waiting
