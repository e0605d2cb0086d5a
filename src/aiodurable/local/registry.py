"""What the local backend knows: registered functions, executions and their indexes.

The registry holds every execution in memory, finds it by ARN, by (function, name) and
by callback id, and writes each change through to the store before anything
acknowledges it (:meth:`Registry.save`).
"""

from __future__ import annotations

import inspect
import re
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from aiodurable.local.changes import Changes
from aiodurable.local.errors import ResourceNotFoundError
from aiodurable.local.execution import Execution
from aiodurable.local.history import Event
from aiodurable.local.records import ExecutionInfo, ExecutionStatus, public_status
from aiodurable.local.store import Store
from aiodurable.wire import Operation

__all__ = ["NAME_PATTERN", "DurableTarget", "RegisteredFunction", "Registry"]

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
    """Functions by name; executions by ARN, by (function, name) and by callback id."""

    def __init__(self, store: Store, changes: Changes, *, region: str, account: str) -> None:
        self.store = store
        self.region = region
        self.account = account
        self._changes = changes
        self.functions: dict[str, RegisteredFunction] = {}
        self.executions: dict[str, Execution] = {}
        self.by_name: dict[tuple[str, str], str] = {}
        #: callback id → (execution ARN, operation id)
        self.callbacks: dict[str, tuple[str, str]] = {}

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
        """Know ``ex`` by ARN, by name and by the callback ids it holds."""
        record = ex.record
        self.executions[record.arn] = ex
        self.by_name[(record.function_name, record.name)] = record.arn
        for op_id, timer in record.callbacks.items():
            self.callbacks[timer.callback_id] = (record.arn, op_id)
        for op in ex.operations.values():
            details = op.callback_details
            if details is not None and details.callback_id:
                self.callbacks.setdefault(details.callback_id, (record.arn, op.id))

    def get(self, arn: str) -> Execution:
        """The execution ``arn``, or :class:`ResourceNotFoundError`."""
        ex = self.executions.get(arn)
        if ex is None:
            raise ResourceNotFoundError(f"Durable execution {arn} not found")
        return ex

    def remove(self, ex: Execution) -> None:
        """Forget ``ex`` and delete it from the store (``DeleteDurableExecution``)."""
        record = ex.record
        self.store.delete(record.arn)
        self.executions.pop(record.arn, None)
        if self.by_name.get((record.function_name, record.name)) == record.arn:
            del self.by_name[(record.function_name, record.name)]
        for callback_id in [c for c, (arn, _) in self.callbacks.items() if arn == record.arn]:
            del self.callbacks[callback_id]
        self._changes.notify()

    def save(
        self,
        ex: Execution,
        ops: list[Operation] | None = None,
        events: list[Event] | None = None,
    ) -> None:
        """Write what changed in ``ex`` through to the store, then tell the waiters."""
        if ops is None or events is None:
            more_ops, more_events = ex.take_changes()
            ops = (ops or []) + more_ops
            events = (events or []) + more_events
        self.store.save(ex.record, ops, events)
        self._changes.notify()

    def info(self, ex: Execution) -> ExecutionInfo:
        """The public snapshot of ``ex`` (``GetDurableExecution``)."""
        r = ex.record
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
