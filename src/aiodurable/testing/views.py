"""What a test reads of an execution: operation views, results, callback requests.

Shared by :class:`~aiodurable.testing.LocalRunner`'s ``Run`` (a running execution) and
``RunResult`` (an ended one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from aiodurable.local import (
    Event,
    EventType,
    ExecutionInfo,
)
from aiodurable.wire import ErrorObject, Operation, OperationType
from aiodurable.wire.callback_names import matches_name, user_name

__all__ = ["CallbackRequest", "Inspection", "OperationView", "Responder", "RunResult"]

R = TypeVar("R")


@dataclass(frozen=True)
class OperationView:
    """One operation of an execution, for assertions."""

    operation: Operation

    @property
    def id(self) -> str:
        """The operation id."""
        return self.operation.id

    @property
    def name(self) -> str | None:
        """The operation name as recorded (``"manager create callback id"`` for the
        callback of ``wait_for_callback(name="manager")``)."""
        return self.operation.name

    @property
    def user_name(self) -> str | None:
        """The name the user gave (``"manager"`` for that callback)."""
        return user_name(self.operation.type, self.operation.name)

    @property
    def type(self) -> str:
        """``STEP``, ``WAIT``, ``CALLBACK``, ``CONTEXT`` …"""
        return self.operation.type.value

    @property
    def sub_type(self) -> str | None:
        """The sub-type (``Step``, ``Map``, ``WaitForCallback`` …)."""
        return self.operation.sub_type

    @property
    def status(self) -> str:
        """The operation's current status."""
        return self.operation.status.value

    @property
    def parent_id(self) -> str | None:
        """The enclosing context's id, if any."""
        return self.operation.parent_id

    @property
    def attempts(self) -> int:
        """Finished attempts of a step (retries included); 0 for other operations."""
        details = self.operation.step_details
        return (details.attempt or 0) if details else 0

    @property
    def result(self) -> str | None:
        """The stored result text (as checkpointed, not decoded)."""
        return self.operation.recorded_result

    @property
    def error(self) -> ErrorObject | None:
        """The stored error of a failed operation."""
        return self.operation.recorded_error

    @property
    def callback_id(self) -> str | None:
        """The callback id of a CALLBACK operation."""
        details = self.operation.callback_details
        return details.callback_id if details else None

    @property
    def elapsed(self) -> timedelta | None:
        """Start to end (or to now, while it runs)."""
        op = self.operation
        if op.start_timestamp is None or op.end_timestamp is None:
            return None
        return op.end_timestamp - op.start_timestamp


def _find(
    operations: list[Operation], name: str, type_: OperationType | None = None
) -> OperationView:
    for op in operations:
        if (type_ is None or op.type is type_) and matches_name(op, name):
            return OperationView(op)
    kind = f"{type_.value} " if type_ else ""
    names = sorted(
        {
            named
            for op in operations
            if op.type is not OperationType.EXECUTION and (type_ is None or op.type is type_)
            if (named := user_name(op.type, op.name))
        }
    )
    raise KeyError(f"no {kind}operation named {name!r}; named operations: {names}")


class Inspection:
    """Operation and history lookups shared by :class:`Run` and :class:`RunResult`."""

    def _operations(self) -> list[Operation]:
        raise NotImplementedError

    def _history(self) -> list[Event]:
        raise NotImplementedError

    @property
    def operations(self) -> list[OperationView]:
        """Every operation but the EXECUTION one, in creation order."""
        return [
            OperationView(op) for op in self._operations() if op.type is not OperationType.EXECUTION
        ]

    @property
    def history(self) -> list[Event]:
        """The execution's history events, as ``GetDurableExecutionHistory`` lists them."""
        return self._history()

    def events(self, *types: EventType | str) -> list[Event]:
        """History events of the given types (all events without arguments)."""
        wanted = {EventType(t) for t in types}
        return [e for e in self._history() if not wanted or e.event_type in wanted]

    def operation(self, name: str) -> OperationView:
        """The first operation named ``name``."""
        return _find(self._operations(), name)

    def step(self, name: str) -> OperationView:
        """The step named ``name``."""
        return _find(self._operations(), name, OperationType.STEP)

    def wait_operation(self, name: str) -> OperationView:
        return _find(self._operations(), name, OperationType.WAIT)

    def callback(self, name: str) -> OperationView:
        return _find(self._operations(), name, OperationType.CALLBACK)


@dataclass(frozen=True)
class RunResult(Inspection, Generic[R]):
    """How an execution ended, with its operations and history."""

    info: ExecutionInfo
    result: R | None
    _ops: list[Operation] = field(repr=False)
    _events: list[Event] = field(repr=False)

    def _operations(self) -> list[Operation]:
        return self._ops

    def _history(self) -> list[Event]:
        return self._events

    @property
    def arn(self) -> str:
        """The execution ARN."""
        return self.info.arn

    @property
    def status(self) -> str:
        """``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` or ``STOPPED``."""
        return self.info.status.value

    @property
    def succeeded(self) -> bool:
        """Whether the execution succeeded."""
        return self.status == "SUCCEEDED"

    @property
    def raw_result(self) -> str | None:
        """The result JSON text as the service stores it."""
        return self.info.result

    @property
    def error(self) -> ErrorObject | None:
        """The execution's error, if it failed."""
        return self.info.error

    @property
    def invocations(self) -> int:
        """How many times the handler was invoked."""
        return len(self.events(EventType.INVOCATION_COMPLETED))


@dataclass(frozen=True)
class CallbackRequest:
    """A started callback handed to a responder; ``name`` is the user's name
    (``"manager"`` for ``wait_for_callback(..., name="manager")``)."""

    callback_id: str
    name: str | None
    execution_arn: str
    operation: Operation


Responder = Callable[[CallbackRequest], Any]


def as_responder(responder: Responder | Any) -> Responder:
    """A responder as ``on_callback`` takes it: a function of a :class:`CallbackRequest`,
    or any other value, which becomes a function answering that value."""
    if callable(responder):
        return responder

    def constant(request: CallbackRequest) -> Any:
        return responder

    return constant
