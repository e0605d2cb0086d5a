"""Our in-process local backend (``aiodurable.local``) as a conformance backend.

Each requirement gets a backend of its own on a virtual clock that moves only when the
runner lets time pass (``sleep``): a callback delay or a poll interval then costs no wall
time, and requirements running side by side cannot speed up each other's clocks. The
runner runs every requirement in its own task, so the task's backend is kept in a
context variable set by ``start``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

import msgspec
from aws_durable_execution_conformance_tests.callback import CallbackAction  # type: ignore[import-untyped]

from aiodurable import DurableHandler
from aiodurable.local.backend import LocalBackend as Service
from aiodurable.local.clock import VirtualClock
from aiodurable.wire import ErrorObject

_service: ContextVar[Service] = ContextVar("conformance_local_service")


class LocalBackend:
    name = "local"
    poll_interval = 0.25

    def __init__(
        self, functions: dict[str, DurableHandler[Any, Any]], stack: contextlib.AsyncExitStack
    ) -> None:
        self._functions = functions
        self._stack = stack

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, functions: dict[str, DurableHandler[Any, Any]]
    ) -> AsyncIterator[LocalBackend]:
        async with contextlib.AsyncExitStack() as stack:
            yield cls(functions, stack)

    @property
    def _current(self) -> Service:
        return _service.get()

    async def _settle(self) -> None:
        """Return once no invocation runs and nothing happens until time moves."""
        service = self._current
        service.kick()
        await service.wait_until(lambda: service.stalled)

    # -- Backend ---------------------------------------------------------------------------
    async def start(self, function_name: str, payload: str) -> str:
        service = Service(clock=VirtualClock(auto_advance=False), functions=self._functions)
        await self._stack.enter_async_context(service)
        _service.set(service)
        return service.start_execution(function_name, payload).arn

    async def history(self, arn: str) -> list[dict[str, Any]]:
        await self._settle()
        return [msgspec.to_builtins(event) for event in self._current.history(arn)]

    async def execution(self, arn: str) -> dict[str, Any]:
        info = self._current.describe(arn)
        return {"Status": info.status.value, "Result": info.result}

    async def complete_callback(self, callback_id: str, action: CallbackAction) -> None:
        service = self._current
        if action.operation == "success":
            result = None if action.payload is None else json.dumps(action.payload).encode()
            service.send_callback_success(callback_id, result)
        elif action.operation == "failure":
            fields = action.payload or {}
            service.send_callback_failure(
                callback_id,
                ErrorObject(
                    error_type=fields.get("ErrorType"),
                    error_message=fields.get("ErrorMessage"),
                    error_data=fields.get("ErrorData"),
                    stack_trace=fields.get("StackTrace"),
                ),
            )
        else:
            service.send_callback_heartbeat(callback_id)

    async def sleep(self, seconds: float) -> None:
        await self._settle()
        self._current.advance(seconds)
        await self._settle()

    def clock(self) -> float:
        return self._current.clock.now().timestamp()

    def expected_history(
        self, expected: list[dict[str, Any]], actual: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return expected
