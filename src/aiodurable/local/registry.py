"""What the local backend knows: registered functions, executions and their indexes.

The registry holds the *running* executions in memory (the backend drives them), finds
an execution by ARN, by (function, name) and by callback id — in memory first, then in
the store — and writes each change through to the store before anything acknowledges it
(:meth:`Registry.save`). Once an execution has ended and its change is saved, it leaves
the registry: the store is the truth, and a finished execution is read back from it when
asked. A few recently finished ones stay at hand (:data:`RECENT_FINISHED`), because a
caller that waited for an execution usually reads its result and history right after.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from aiodurable.local.changes import Changes
from aiodurable.local.errors import ResourceNotFoundError
from aiodurable.local.execution import Execution
from aiodurable.local.history import Event
from aiodurable.local.records import ExecutionInfo, ExecutionRecord, ExecutionStatus, public_status
from aiodurable.local.store import Store, callback_ids
from aiodurable.wire import Operation

__all__ = ["NAME_PATTERN", "RECENT_FINISHED", "DurableTarget", "RegisteredFunction", "Registry"]

#: Finished executions kept decoded after they were last saved or read (a bound, so that
#: memory does not grow with the number of executions).
RECENT_FINISHED = 16

#: Function and execution names: 1-64 characters of ``[a-zA-Z0-9_-]``.
NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")


class DurableTarget(Protocol):
    """What the backend invokes: a :class:`~aiodurable.DurableHandler` or alike."""

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        """Handle one invocation envelope, checkpointing through ``client``."""
        ...


@dataclass(frozen=True)
class RegisteredFunction:
    """A function the backend can run: durable (its own execution) or plain."""

    name: str
    target: Any
    durable: bool


def _is_durable(target: Any) -> bool:
    run = getattr(target, "run", None)
    return run is not None and inspect.iscoroutinefunction(run)


class Registry:
    """Functions by name; running executions by ARN and callback id; the rest in the store."""

    def __init__(self, store: Store, changes: Changes, *, region: str, account: str) -> None:
        self.store = store
        self.region = region
        self.account = account
        self._changes = changes
        self.functions: dict[str, RegisteredFunction] = {}
        #: The running executions, by ARN: the only ones held for good.
        self.executions: dict[str, Execution] = {}
        #: callback id → (execution ARN, operation id), for the running executions.
        self.callbacks: dict[str, tuple[str, str]] = {}
        self._recent: OrderedDict[str, Execution] = OrderedDict()

    # -- functions -------------------------------------------------------------------------
    def register(self, function_name: str, target: Any) -> None:
        if not NAME_PATTERN.fullmatch(function_name):
            raise ValueError(
                f"function name {function_name!r} must be 1-64 characters of [a-zA-Z0-9_-]"
            )
        self.functions[function_name] = RegisteredFunction(
            function_name, target, _is_durable(target)
        )

    def function_arn(self, function_name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{function_name}"

    def new_arn(self, function_name: str, name: str) -> str:
        """A fresh execution ARN for execution ``name`` of ``function_name``."""
        return (
            f"{self.function_arn(function_name)}:$LATEST/durable-execution/{name}/"
            f"{uuid.uuid4().hex}"
        )

    # -- executions ------------------------------------------------------------------------
    def add(self, ex: Execution) -> None:
        """Hold the running execution ``ex``; know it by ARN and by its callback ids."""
        record = ex.record
        self.executions[record.arn] = ex
        self._recent.pop(record.arn, None)
        for op_id, timer in record.callbacks.items():
            self.callbacks[timer.callback_id] = (record.arn, op_id)
        for callback_id, op_id in callback_ids(ex.operations.values()):
            self.callbacks.setdefault(callback_id, (record.arn, op_id))

    def find(self, arn: str) -> Execution | None:
        """The execution ``arn``: held if it runs, else read from the store."""
        ex = self.executions.get(arn)
        if ex is not None:
            return ex
        ex = self._recent.get(arn)
        if ex is not None:
            self._recent.move_to_end(arn)
            return ex
        stored = self.store.load_execution(arn)
        if stored is None:
            return None
        ex = Execution(stored.record, stored.operations, stored.events, stored.trace)
        if ex.running:  # a store shared with another backend: not ours to drive
            return ex
        self._keep_recent(ex)
        return ex

    def get(self, arn: str) -> Execution:
        """The execution ``arn``, or :class:`ResourceNotFoundError`."""
        ex = self.find(arn)
        if ex is None:
            raise ResourceNotFoundError(f"Durable execution {arn} not found")
        return ex

    def record(self, arn: str) -> ExecutionRecord | None:
        """The record of execution ``arn`` (without reading its operations and events)."""
        ex = self.executions.get(arn) or self._recent.get(arn)
        return ex.record if ex is not None else self.store.load_record(arn)

    def find_name(self, function_name: str, name: str) -> Execution | None:
        """The execution named ``name`` of ``function_name``."""
        record = self.store.find_name(function_name, name)
        return self.find(record.arn) if record is not None else None

    def callback(self, callback_id: str) -> tuple[str, str] | None:
        """(execution ARN, operation id) of a callback id, running or not."""
        return self.callbacks.get(callback_id) or self.store.find_callback(callback_id)

    def remove(self, ex: Execution) -> None:
        """Forget ``ex`` and delete it from the store (``DeleteDurableExecution``)."""
        arn = ex.record.arn
        self.store.delete(arn)
        self.executions.pop(arn, None)
        self._recent.pop(arn, None)
        for callback_id in [c for c, (owner, _) in self.callbacks.items() if owner == arn]:
            del self.callbacks[callback_id]
        self._changes.notify()

    def save(
        self,
        ex: Execution,
        ops: list[Operation] | None = None,
        events: list[Event] | None = None,
    ) -> None:
        """Write what changed in ``ex`` through to the store, then tell the waiters.

        A finished execution then leaves the running set (it is read back when asked)."""
        if ops is None or events is None:
            more_ops, more_events = ex.take_changes()
            ops = (ops or []) + more_ops
            events = (events or []) + more_events
        pending = ex.trace.pending
        self.store.save(ex.record, ops, events, pending)
        ex.trace.saved()
        if not ex.running and self.executions.pop(ex.arn, None) is not None:
            self._forget_callbacks(ex)
            self._keep_recent(ex)
        elif ex.arn in self._recent:
            self._recent[ex.arn] = ex  # the object that writes is the one to read
        self._changes.notify()

    def _forget_callbacks(self, ex: Execution) -> None:
        for callback_id, _ in callback_ids(ex.operations.values()):
            self.callbacks.pop(callback_id, None)
        for timer in ex.record.callbacks.values():
            self.callbacks.pop(timer.callback_id, None)

    def _keep_recent(self, ex: Execution) -> None:
        recent = self._recent
        recent[ex.arn] = ex
        recent.move_to_end(ex.arn)
        while len(recent) > RECENT_FINISHED:
            recent.popitem(last=False)

    def info(self, record: ExecutionRecord) -> ExecutionInfo:
        """The public snapshot of an execution (``GetDurableExecution``)."""
        r = record
        status = public_status(r)
        pause = r.pause if status in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED) else None
        return ExecutionInfo(
            arn=r.arn,
            name=r.name,
            function_name=r.function_name,
            function_arn=self.function_arn(r.function_name),
            status=status,
            start_timestamp=r.start_timestamp,
            end_timestamp=r.end_timestamp,
            input_payload=r.input_payload,
            result=r.result,
            error=r.error,
            parent_arn=r.parent_arn,
            execution_timeout=r.execution_timeout,
            expected_timeout_at=None if r.end_timestamp else r.timeout_at,
            pause_requested_at=pause.requested_at if pause else None,
            pause_reason=pause.reason if pause else None,
            execution_timeout_paused=pause.execution_timeout_paused if pause else None,
        )
