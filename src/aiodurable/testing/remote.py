"""``RemoteRunner``: the same tests against a deployed durable function, through the
Lambda API.

    async with RemoteRunner("orders:live", handler=order_workflow) as runner:
        runner.on_callback("approval", {"approved": True})
        run = await runner.run({"order_id": "o-1"})
        assert run.status == "SUCCEEDED"
        assert run.step("charge").attempts == 1

It starts an execution with ``Invoke`` (``InvocationType=Event``), polls
``GetDurableExecution`` and ``GetDurableExecutionHistory``, answers callbacks with
``SendDurableExecutionCallback…`` and returns the :class:`RunResult` that
:class:`LocalRunner` returns, its operations rebuilt from the history. A test written
with ``runner.run(...)`` and ``runner.on_callback(...)`` runs unchanged on either runner.
``endpoint_url`` points it at ``aiodurable serve`` instead of AWS.

Time is real here: waits last as long as they say, so give a remote test short waits
(or a ``LocalRunner`` for month-long ones). Polls start at 50 ms and back off to
``poll_interval``.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from typing import Any, Generic, TypeVar

import msgspec

from aiodurable.errors import error_object_from_exception
from aiodurable.local.history import Event, EventType
from aiodurable.local.records import ExecutionInfo, ExecutionStatus
from aiodurable.serdes import decode_json, encode_json
from aiodurable.testing.history_operations import operations_from_history
from aiodurable.testing.runner import _return_type
from aiodurable.testing.views import (
    CallbackRequest,
    Inspection,
    OperationView,
    Responder,
    RunResult,
    as_responder,
)
from aiodurable.wire import ErrorObject, Operation, OperationStatus, OperationType

__all__ = ["RemoteRun", "RemoteRunner"]

R = TypeVar("R")

_KNOWN_EVENTS = frozenset(t.value for t in EventType)
_FIRST_POLL = 0.05


class RemoteRun(Inspection, Generic[R]):
    """A started execution of a deployed function.

    Its operation and history lookups (``step()``, ``operation()``, ``events()`` …) read
    what the last :meth:`refresh` (or :meth:`wait_for_callback`) fetched.
    """

    def __init__(self, runner: RemoteRunner[R], arn: str) -> None:
        self._runner = runner
        self.arn = arn
        self._events: list[Event] = []
        self._ops: list[Operation] = []
        self._answered: set[str] = set()

    def _operations(self) -> list[Operation]:
        return self._ops

    def _history(self) -> list[Event]:
        return self._events

    async def refresh(self) -> ExecutionInfo:
        """Fetch the execution and its history; answer newly started callbacks that a
        responder of the runner matches. Returns the execution's current state."""
        info = await self._runner._describe(self.arn)
        self._events = await self._runner._history(self.arn)
        self._ops = operations_from_history(self._events)
        await self._respond()
        return info

    async def _respond(self) -> None:
        for op in self._ops:
            details = op.callback_details
            if (
                op.type is not OperationType.CALLBACK
                or op.status is not OperationStatus.STARTED
                or details is None
                or details.callback_id is None
                or details.callback_id in self._answered
            ):
                continue
            responder = self._runner._responder(op.name)
            if responder is None:
                continue
            self._answered.add(details.callback_id)
            await self._runner._answer(
                responder, CallbackRequest(details.callback_id, op.name, self.arn, op)
            )

    async def wait(self) -> RunResult[R]:
        """Poll until the execution ends (answering callbacks on the way); its result.

        Raises ``TimeoutError`` after the runner's ``timeout`` (or wrap the call in
        ``asyncio.timeout`` for a shorter one)."""
        async for info in self._runner._polls(self, "to end"):
            if info.status is not ExecutionStatus.RUNNING:
                return self._runner._result(info, self._ops, self._events)
        raise AssertionError("unreachable")  # pragma: no cover - _polls raises at timeout

    async def callback_started(self, name: str | None = None) -> OperationView:
        """Poll until a callback (named ``name``, or any) has started and is unanswered."""
        wanted = f"callback {name!r}" if name is not None else "a callback"
        async for info in self._runner._polls(self, f"for {wanted}"):
            for op in self._ops:
                if (
                    op.type is OperationType.CALLBACK
                    and op.status is OperationStatus.STARTED
                    and (name is None or op.name == name)
                ):
                    return OperationView(op)
            if info.status is not ExecutionStatus.RUNNING:
                raise RuntimeError(f"execution {self.arn} ended before {wanted} started")
        raise AssertionError("unreachable")  # pragma: no cover

    def _callback_id(self, callback: str) -> str:
        for op in self._ops:
            details = op.callback_details
            if details is not None and callback in (op.name, details.callback_id):
                assert details.callback_id is not None
                return details.callback_id
        return callback  # an id this run has not fetched yet: the service will say

    async def complete_callback(
        self, callback: str, value: Any = None, *, raw: str | bytes | None = None
    ) -> None:
        """Complete a callback (by name or id) with ``value`` as JSON, or ``raw`` text."""
        payload = raw if raw is not None else encode_json(value)
        await self._runner._send_success(self._callback_id(callback), payload)

    async def fail_callback(
        self,
        callback: str,
        message: str | None = None,
        *,
        error_type: str | None = None,
        data: str | None = None,
    ) -> None:
        """Fail a callback (by name or id)."""
        error = ErrorObject(error_type=error_type, error_message=message, error_data=data)
        await self._runner._send_failure(self._callback_id(callback), error)

    async def heartbeat_callback(self, callback: str) -> None:
        """Send a heartbeat for the callback named or identified by ``callback``."""
        await self._runner._call(
            "send_durable_execution_callback_heartbeat", CallbackId=self._callback_id(callback)
        )

    async def stop(self, message: str | None = None) -> None:
        """Stop the execution (``StopDurableExecution``)."""
        params: dict[str, Any] = {"DurableExecutionArn": self.arn}
        if message:
            params["Error"] = {"ErrorMessage": message}
        await self._runner._call("stop_durable_execution", **params)


class RemoteRunner(Generic[R]):
    """Runs a deployed durable function through the Lambda API.

    Args:
        function_name: the function's name, ARN or ``name:alias`` (a qualified name is
            what a durable function is invoked by).
        handler: the ``@durable_execution`` handler deployed there, for the result type
            (its return annotation); or give ``result_type``.
        client: an aiobotocore (or aioboto3) Lambda client; by default one is created
            from ``endpoint_url`` / ``region_name`` and the usual credential chain.
        endpoint_url: where the Lambda API is (``aiodurable serve``'s URL locally).
        poll_interval: the longest pause between two polls, in seconds.
        timeout: how long :meth:`run`, ``RemoteRun.wait`` and
            ``RemoteRun.wait_for_callback`` poll before ``TimeoutError``, in seconds.
    """

    def __init__(
        self,
        function_name: str,
        *,
        handler: Any = None,
        result_type: Any = None,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        poll_interval: float = 2.0,
        timeout: float = 900.0,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.function_name = function_name
        self._result_type = result_type if result_type is not None else _return_type(handler)
        self._client = client
        self._endpoint_url = endpoint_url
        self._region_name = region_name
        self._client_options = dict(client_options or {})
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._responders: list[tuple[str | re.Pattern[str] | None, Responder]] = []
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> RemoteRunner[R]:
        if self._client is None:
            from aiobotocore.session import get_session  # type: ignore[import-untyped]

            async with AsyncExitStack() as stack:
                self._client = await stack.enter_async_context(
                    get_session().create_client(
                        "lambda",
                        endpoint_url=self._endpoint_url,
                        region_name=self._region_name,
                        **self._client_options,
                    )
                )
                self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            self._client = None
            await stack.aclose()

    # -- the same surface as LocalRunner ----------------------------------------------------
    def on_callback(self, name: str | re.Pattern[str] | None, responder: Responder | Any) -> None:
        """Answer callbacks named ``name`` (a string, a regex, or ``None`` for all) as the
        runner sees them start: ``responder`` is a value (sent as JSON) or a function of
        a :class:`CallbackRequest`, sync or async; if it raises, the callback fails."""
        self._responders.append((name, as_responder(responder)))

    async def start(self, input: Any = None, *, name: str | None = None) -> RemoteRun[R]:
        """Start an execution (``Invoke``, ``InvocationType=Event``) and return at once."""
        params: dict[str, Any] = {
            "FunctionName": self.function_name,
            "InvocationType": "Event",
            "Payload": encode_json(input).encode() if input is not None else b"{}",
        }
        if name is not None:
            params["DurableExecutionName"] = name
        response = await self._call("invoke", **params)
        arn = response.get("DurableExecutionArn")
        if not arn:
            raise RuntimeError(
                f"invoking {self.function_name!r} started no durable execution (no "
                "DurableExecutionArn in the response): is it a durable function, and is "
                "the name qualified (a version or an alias)?"
            )
        return RemoteRun(self, arn)

    async def run(self, input: Any = None, *, name: str | None = None) -> RunResult[R]:
        """Start an execution and wait for it to end."""
        run = await self.start(input, name=name)
        return await run.wait()

    # -- API calls ----------------------------------------------------------------------------
    async def _call(self, operation: str, **params: Any) -> Any:
        if self._client is None:
            raise RuntimeError("use the RemoteRunner in 'async with RemoteRunner(...)'")
        response = await getattr(self._client, operation)(**params)
        payload = response.get("Payload") if isinstance(response, dict) else None
        if payload is not None and hasattr(payload, "read"):
            response["Payload"] = await payload.read()
        return response

    async def _describe(self, arn: str) -> ExecutionInfo:
        r = await self._call(
            "get_durable_execution", DurableExecutionArn=arn, IncludeExecutionData=True
        )
        function_arn = r.get("FunctionArn", "")
        error = r.get("Error")
        return ExecutionInfo(
            arn=r["DurableExecutionArn"],
            name=r.get("DurableExecutionName", ""),
            function_name=_function_name(function_arn) or self.function_name,
            function_arn=function_arn,
            status=ExecutionStatus(r["Status"]),
            start_timestamp=r["StartTimestamp"],
            end_timestamp=r.get("EndTimestamp"),
            input_payload=r.get("InputPayload"),
            result=r.get("Result"),
            error=msgspec.convert(error, ErrorObject) if error else None,
        )

    async def _history(self, arn: str) -> list[Event]:
        events: list[Event] = []
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"DurableExecutionArn": arn, "IncludeExecutionData": True}
            if marker:
                params["Marker"] = marker
            page = await self._call("get_durable_execution_history", **params)
            for raw in page.get("Events", []):
                if raw.get("EventType") in _KNOWN_EVENTS:
                    events.append(_event(raw))
            marker = page.get("NextMarker")
            if not marker:
                return events

    async def _send_success(self, callback_id: str, payload: str | bytes) -> None:
        body = payload.encode() if isinstance(payload, str) else payload
        await self._call(
            "send_durable_execution_callback_success", CallbackId=callback_id, Result=body
        )

    async def _send_failure(self, callback_id: str, error: ErrorObject) -> None:
        await self._call(
            "send_durable_execution_callback_failure",
            CallbackId=callback_id,
            Error=msgspec.to_builtins(error),
        )

    def _responder(self, name: str | None) -> Responder | None:
        for pattern, responder in self._responders:
            if (
                pattern is None
                or (isinstance(pattern, str) and name == pattern)
                or (
                    isinstance(pattern, re.Pattern)
                    and name is not None
                    and pattern.search(name) is not None
                )
            ):
                return responder
        return None

    async def _answer(self, responder: Responder, request: CallbackRequest) -> None:
        try:
            value = responder(request)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            await self._send_failure(request.callback_id, error_object_from_exception(exc))
            return
        await self._send_success(request.callback_id, encode_json(value))

    async def _polls(self, run: RemoteRun[R], what: str) -> AsyncIterator[ExecutionInfo]:
        """Refresh ``run`` and yield its state, pausing longer each time, until
        :attr:`timeout` seconds passed: then ``TimeoutError``."""
        limit = self.timeout
        deadline = time.monotonic() + limit
        pause = _FIRST_POLL
        while True:
            yield await run.refresh()
            if time.monotonic() >= deadline:
                raise TimeoutError(f"execution {run.arn} took longer than {limit} s {what}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.poll_interval)

    def _result(
        self, info: ExecutionInfo, operations: list[Operation], events: list[Event]
    ) -> RunResult[R]:
        value: Any = None
        if info.result:
            value = decode_json(info.result, self._result_type)
        return RunResult(info, value, operations, events)


def _function_name(function_arn: str) -> str:
    # arn:aws:lambda:region:account:function:name[:qualifier]
    parts = function_arn.split(":")
    return parts[6] if len(parts) > 6 else ""


def _event(raw: dict[str, Any]) -> Event:
    """A history event as botocore parsed it (datetimes, PascalCase keys) as an Event."""
    return msgspec.convert(raw, Event, strict=False)
