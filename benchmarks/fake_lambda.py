"""A zero-latency, in-process stand-in for the Lambda durable execution API.

It speaks the shape botocore hands out (PascalCase dicts, timestamps as aware
``datetime``), so every SDK is driven through its own service-client layer and its own
model conversion; only HTTP, signing and botocore parsing are left out. It keeps what
the service keeps (docs/protocol.md §2.6, §5): a token chain (each token is good for one
checkpoint), operation state transitions per action, a delta of touched operations in
every checkpoint response, and paged state.

Standard library only: it is imported into every SDK's virtualenv.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["FakeLambdaApi", "operations_from_json", "operations_to_json"]

ACCOUNT_ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench:$LATEST"
#: Bytes of operation JSON the invocation event carries before it pages (EMU: 5 MiB).
FIRST_PAGE_BYTES = 5 * 1024 * 1024
STATE_PAGE_ITEMS = 1000

_TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"}


class ServiceError(Exception):
    """What the fake rejects; it means the SDK under test misbehaved."""


class FakeLambdaApi:
    """One durable execution, seen through ``CheckpointDurableExecution`` and
    ``GetDurableExecutionState``.

    Method names and keyword arguments are botocore's, so an SDK that accepts a
    boto3-style Lambda client can be handed this object (or :meth:`async_client`).
    """

    def __init__(self, *, name: str = "bench", input_payload: str = "{}") -> None:
        self.execution_id = "0b5e7a1d-6c2f-4e1a-9d3b-bench0000001"
        self.arn = f"{ACCOUNT_ARN}/durable-execution/{name}/{self.execution_id}"
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.operations: dict[str, dict[str, Any]] = {
            self.execution_id: {
                "Id": self.execution_id,
                "Type": "EXECUTION",
                "Status": "STARTED",
                "Name": name,
                "StartTimestamp": self.now,
                "ExecutionDetails": {"InputPayload": input_payload},
            }
        }
        self._token_number = 0
        self.token = ""
        self.result: Any = None
        self.completed = False
        # What the SDK under test did.
        self.checkpoint_calls = 0
        self.updates = 0
        self.state_calls = 0
        #: Seconds spent inside this fake, so its share can be taken out of a run's time.
        self.service_time = 0.0
        #: Round-trip time added to every call (``BENCH_LATENCY_MS``), as a network would.
        self.latency = float(os.environ.get("BENCH_LATENCY_MS", "0")) / 1000
        #: Seconds of wall time with at least one call in flight.
        self.waiting = 0.0
        self._in_flight = 0
        self._since = 0.0
        self._lock = threading.Lock()

    # -- the network in between ----------------------------------------------------------
    def _begin(self) -> None:
        with self._lock:
            if self._in_flight == 0:
                self._since = time.perf_counter()
            self._in_flight += 1

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self.waiting += time.perf_counter() - self._since

    def call(self, method: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        """``method(**kwargs)`` after :attr:`latency`, the calling thread blocked meanwhile."""
        self._begin()
        try:
            if self.latency:
                time.sleep(self.latency)
            return method(**kwargs)
        finally:
            self._end()

    async def call_async(
        self, method: Callable[..., dict[str, Any]], **kwargs: Any
    ) -> dict[str, Any]:
        """``method(**kwargs)`` after :attr:`latency`, the event loop free meanwhile."""
        self._begin()
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return method(**kwargs)
        finally:
            self._end()

    # -- setting up an invocation --------------------------------------------------------
    def preload(self, operations: Iterable[Mapping[str, Any]]) -> None:
        """Store operations recorded by an earlier run (for replay workloads)."""
        for op in operations:
            self.operations[op["Id"]] = dict(op)

    def event(self) -> dict[str, Any]:
        """The Lambda event of the next invocation (timestamps in epoch milliseconds)."""
        self.token = self._next_token()
        page: list[dict[str, Any]] = []
        size = 0
        ops = list(self.operations.values())
        for op in ops:
            wire = _event_operation(op)
            size += len(json.dumps(wire, separators=(",", ":")))
            if page and size > FIRST_PAGE_BYTES:
                break
            page.append(wire)
        state: dict[str, Any] = {"Operations": page}
        if len(page) < len(ops):
            state["NextMarker"] = str(len(page))
        return {
            "DurableExecutionArn": self.arn,
            "CheckpointToken": self.token,
            "InitialExecutionState": state,
        }

    def recorded(self) -> list[dict[str, Any]]:
        """Every operation but the EXECUTION one, as stored."""
        return [op for op in self.operations.values() if op["Type"] != "EXECUTION"]

    # -- the API -------------------------------------------------------------------------
    # Parameter names are botocore's (PascalCase keyword arguments).
    def checkpoint_durable_execution(
        self,
        *,
        DurableExecutionArn: str,
        CheckpointToken: str,
        Updates: list[Mapping[str, Any]] | None = None,
        ClientToken: str | None = None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return self._checkpoint(DurableExecutionArn, CheckpointToken, Updates or [])
        finally:
            self.service_time += time.perf_counter() - started

    def _checkpoint(self, arn: str, token: str, updates: list[Mapping[str, Any]]) -> dict[str, Any]:
        self._check_arn(arn)
        if self.completed:
            raise ServiceError("InvalidParameterValueException: execution already completed")
        if token != self.token:
            raise ServiceError(
                f"InvalidParameterValueException: Invalid checkpoint token {token!r} "
                f"(expected {self.token!r})"
            )
        self.checkpoint_calls += 1
        self.updates += len(updates)
        touched: dict[str, dict[str, Any]] = {}
        completes = False
        for update in updates:
            if update["Type"] == "EXECUTION":
                completes = True
                self.result = update.get("Payload", update.get("Error"))
                continue
            op = self._apply(update)
            touched[op["Id"]] = op
        state = {"Operations": list(touched.values())}
        if completes:
            self.completed = True
            return {"NewExecutionState": state}
        self.token = self._next_token()
        return {"CheckpointToken": self.token, "NewExecutionState": state}

    def get_durable_execution_state(
        self,
        *,
        DurableExecutionArn: str,
        CheckpointToken: str,
        Marker: str | None = None,
        MaxItems: int = 100,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        self._check_arn(DurableExecutionArn)
        if CheckpointToken != self.token:
            raise ServiceError("InvalidParameterValueException: Invalid checkpoint token")
        self.state_calls += 1
        start = int(Marker or 0)
        size = max(1, min(MaxItems or 100, STATE_PAGE_ITEMS))
        ops = list(self.operations.values())
        page: dict[str, Any] = {"Operations": ops[start : start + size]}
        if start + size < len(ops):
            page["NextMarker"] = str(start + size)
        self.service_time += time.perf_counter() - started
        return page

    def async_client(self) -> AsyncFacade:
        return AsyncFacade(self)

    # -- service logic -------------------------------------------------------------------
    def _check_arn(self, arn: str) -> None:
        if arn != self.arn:
            raise ServiceError(f"ResourceNotFoundException: no execution {arn}")

    def _next_token(self) -> str:
        self._token_number += 1
        return f"dG9rZW4t{self._token_number:08d}"

    def _apply(self, update: Mapping[str, Any]) -> dict[str, Any]:
        op_id = update["Id"]
        action = update["Action"]
        kind = update["Type"]
        old = self.operations.get(op_id)
        parent = update.get("ParentId")
        if old is None:
            if parent is not None:
                holder = self.operations.get(parent)
                if holder is None or holder["Type"] != "CONTEXT":
                    raise ServiceError(
                        f"InvalidParameterValueException: parent {parent} of {op_id} "
                        "is not a known CONTEXT"
                    )
            op: dict[str, Any] = {
                "Id": op_id,
                "Type": kind,
                "Status": "STARTED",
                "StartTimestamp": self.now,
            }
            for key in ("ParentId", "Name", "SubType"):
                value = update.get(key)
                if value:
                    op[key] = value
        else:
            op = dict(old)
        handler = _TRANSITIONS.get(kind)
        if handler is None:
            raise ServiceError(f"InvalidParameterValueException: unsupported type {kind}")
        handler(self, op, old, action, update)
        self.operations[op_id] = op
        return op


def _step(
    api: FakeLambdaApi,
    op: dict[str, Any],
    old: dict[str, Any] | None,
    action: str,
    update: Mapping[str, Any],
) -> None:
    details = op.get("StepDetails") or {}
    attempt = details.get("Attempt", 0)
    status = old["Status"] if old else None
    if action == "START":
        if status not in (None, "READY"):
            raise ServiceError(f"InvalidParameterValueException: START of a {status} step")
        op["Status"] = "STARTED"
        op["StepDetails"] = {"Attempt": attempt}
    elif action in ("SUCCEED", "FAIL"):
        if status in _TERMINAL:
            raise ServiceError(f"InvalidParameterValueException: {action} of a {status} step")
        op["Status"] = "SUCCEEDED" if action == "SUCCEED" else "FAILED"
        op["EndTimestamp"] = api.now
        new_details: dict[str, Any] = {"Attempt": attempt + 1}
        if "Payload" in update:
            new_details["Result"] = update["Payload"]
        if update.get("Error"):
            new_details["Error"] = update["Error"]
        op["StepDetails"] = new_details
    elif action == "RETRY":
        delay = update["StepOptions"]["NextAttemptDelaySeconds"]
        op["Status"] = "PENDING"
        retry_details: dict[str, Any] = {
            "Attempt": attempt + 1,
            "NextAttemptTimestamp": api.now + timedelta(seconds=delay),
        }
        if "Payload" in update:
            retry_details["Result"] = update["Payload"]
        if update.get("Error"):
            retry_details["Error"] = update["Error"]
        op["StepDetails"] = retry_details
    else:
        raise ServiceError(f"InvalidParameterValueException: {action} on a STEP")


def _context(
    api: FakeLambdaApi,
    op: dict[str, Any],
    old: dict[str, Any] | None,
    action: str,
    update: Mapping[str, Any],
) -> None:
    if action == "START":
        if old is not None:
            raise ServiceError("InvalidParameterValueException: context already started")
        return
    if action not in ("SUCCEED", "FAIL"):
        raise ServiceError(f"InvalidParameterValueException: {action} on a CONTEXT")
    if old is not None and old["Status"] != "STARTED":
        raise ServiceError("InvalidParameterValueException: closing a closed context")
    op["Status"] = "SUCCEEDED" if action == "SUCCEED" else "FAILED"
    op["EndTimestamp"] = api.now
    details: dict[str, Any] = {}
    if "Payload" in update:
        details["Result"] = update["Payload"]
    if update.get("Error"):
        details["Error"] = update["Error"]
    options = update.get("ContextOptions") or {}
    if options.get("ReplayChildren"):
        details["ReplayChildren"] = True
    op["ContextDetails"] = details


def _wait(
    api: FakeLambdaApi,
    op: dict[str, Any],
    old: dict[str, Any] | None,
    action: str,
    update: Mapping[str, Any],
) -> None:
    if action == "START":
        seconds = update["WaitOptions"]["WaitSeconds"]
        op["WaitDetails"] = {"ScheduledEndTimestamp": api.now + timedelta(seconds=seconds)}
    elif action == "CANCEL":
        op["Status"] = "CANCELLED"
        op["EndTimestamp"] = api.now
    else:
        raise ServiceError(f"InvalidParameterValueException: {action} on a WAIT")


_Transition = Callable[
    [FakeLambdaApi, dict[str, Any], "dict[str, Any] | None", str, Mapping[str, Any]], None
]
_TRANSITIONS: dict[str, _Transition] = {"STEP": _step, "CONTEXT": _context, "WAIT": _wait}


class AsyncFacade:
    """The same API with coroutine methods, for SDKs that take an async Lambda client."""

    def __init__(self, api: FakeLambdaApi) -> None:
        self.api = api

    async def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        return self.api.checkpoint_durable_execution(**kwargs)

    async def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return self.api.get_durable_execution_state(**kwargs)


# -- event encoding and recorded histories --------------------------------------------------
def _millis(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


def _event_operation(op: Mapping[str, Any]) -> dict[str, Any]:
    """An operation as the invocation event carries it: timestamps in epoch ms."""
    wire = dict(op)
    for key in ("StartTimestamp", "EndTimestamp"):
        if key in wire:
            wire[key] = _millis(wire[key])
    for details_key, key in (
        ("StepDetails", "NextAttemptTimestamp"),
        ("WaitDetails", "ScheduledEndTimestamp"),
    ):
        details = wire.get(details_key)
        if details and key in details:
            wire[details_key] = {**details, key: _millis(details[key])}
    return wire


def operations_to_json(operations: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps([_event_operation(op) for op in operations])


def operations_from_json(text: str) -> list[dict[str, Any]]:
    """Recorded operations back in API shape (aware datetimes)."""
    operations: list[dict[str, Any]] = json.loads(text)
    for op in operations:
        for key in ("StartTimestamp", "EndTimestamp"):
            if key in op:
                op[key] = datetime.fromtimestamp(op[key] / 1000, tz=UTC)
        for details_key, key in (
            ("StepDetails", "NextAttemptTimestamp"),
            ("WaitDetails", "ScheduledEndTimestamp"),
        ):
            details = op.get(details_key)
            if details and key in details:
                details[key] = datetime.fromtimestamp(details[key] / 1000, tz=UTC)
    return operations
