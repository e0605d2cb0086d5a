"""What one invocation knows about its execution: the operations by id, and the checks
that replay reaches them as they were recorded.

Scheduling (when to suspend) is the :class:`~aiodurable.runtime.scheduler.InvocationScheduler`'s;
how the invocation ends is the :class:`~aiodurable.runtime.outcome.InvocationOutcome`'s.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiodurable.errors import NonDeterministicError
from aiodurable.plugins.dispatch import NO_PLUGINS, InvocationHooks
from aiodurable.runtime.checkpointer import Checkpointer
from aiodurable.runtime.outcome import InvocationOutcome
from aiodurable.runtime.replay_trace import ReplayTrace
from aiodurable.runtime.scheduler import InvocationScheduler
from aiodurable.wire import Operation, OperationType

__all__ = ["InvocationState"]


class InvocationState:
    """Everything one invocation knows about its execution."""

    def __init__(
        self,
        execution_arn: str,
        operations: dict[str, Operation],
        hooks: InvocationHooks | None = None,
        trace: ReplayTrace | None = None,
        scheduler: InvocationScheduler | None = None,
    ) -> None:
        self.arn = execution_arn
        self.operations = operations
        #: The plugin hooks of this invocation (``hooks.enabled`` is false without plugins).
        self.hooks = hooks if hooks is not None else NO_PLUGINS.invocation(execution_arn, {})
        #: Signatures of earlier calls, where the service keeps them (local backend only).
        self.trace = trace
        #: The operations recorded before this invocation, by parent id, and those of them
        #: the code has reached again (see ``reached``); with a trace, how many recorded
        #: operations share each (parent id, name).
        self.recorded_children: dict[str | None, list[str]] = {}
        self.reached_children: dict[str | None, int] = {}
        self.reached_ids: set[str] = set()
        self.recorded_names: dict[tuple[str | None, str | None], int] = {}
        children, names = self.recorded_children, self.recorded_names
        for op in operations.values():
            if op.type is not OperationType.EXECUTION:
                parent = op.parent_id or None
                if parent in children:
                    children[parent].append(op.id)
                else:
                    children[parent] = [op.id]
                if trace is not None:
                    key = (parent, op.name or None)
                    names[key] = names.get(key, 0) + 1
        self.replaying = bool(children)
        if scheduler is None:
            scheduler = InvocationScheduler(InvocationOutcome())
        self.scheduler = scheduler
        self.outcome = scheduler.outcome
        # The scheduler's operations, at hand for every operation module.
        self.park = scheduler.park
        self.wake = scheduler.wake
        self._checkpointer: Checkpointer | None = None

    # -- wiring ------------------------------------------------------------------------
    @property
    def checkpointer(self) -> Checkpointer:
        assert self._checkpointer is not None, "the checkpointer starts with the invocation"
        return self._checkpointer

    def attach(self, checkpointer: Checkpointer) -> None:
        self._checkpointer = checkpointer

    def merge(self, operations: Iterable[Operation]) -> None:
        """Apply a delta of operations from the service (replace by id)."""
        ops = self.operations
        hooks = self.hooks
        delta = operations if isinstance(operations, (list, tuple)) else list(operations)
        if hooks.enabled:
            previous = {op.id: ops[op.id] for op in delta if op.id in ops}
        for op in delta:
            ops[op.id] = op
        self.scheduler.notify(delta)
        if hooks.enabled:
            hooks.merged(delta, previous)

    def fail(self, error: BaseException) -> None:
        """Record an execution-level failure and end the invocation."""
        self.outcome.fail(error)

    # -- identity ----------------------------------------------------------------------
    def checkpoint_for(
        self,
        op_id: str,
        type_: OperationType,
        sub_type: str | None,
        name: str | None,
        parent_id: str | None,
    ) -> Operation | None:
        """The stored operation at ``op_id``, checked against what the code does now."""
        op = self.operations.get(op_id)
        if op is None:
            return None
        if (
            op.type is not type_
            or (op.sub_type or None) != (sub_type or None)
            or (op.name or None) != (name or None)
            or (op.parent_id or None) != (parent_id or None)
        ):
            self._mismatch(op, type_, sub_type, name, parent_id)
        if self.hooks.enabled:
            self.hooks.visited(op)  # replay reached a recorded operation
        return op

    def _mismatch(
        self,
        op: Operation,
        type_: OperationType,
        sub_type: str | None,
        name: str | None,
        parent_id: str | None,
    ) -> None:
        op_id = op.id
        mismatches: list[str] = []
        if op.type is not type_:
            mismatches.append(f"type {op.type.value} != {type_.value}")
        if (op.sub_type or None) != (sub_type or None):
            mismatches.append(f"sub-type {op.sub_type!r} != {sub_type!r}")
        if (op.name or None) != (name or None):
            mismatches.append(f"name {op.name!r} != {name!r}")
        if (op.parent_id or None) != (parent_id or None):
            mismatches.append(f"parent {op.parent_id!r} != {parent_id!r}")
        if mismatches:
            self.nondeterminism(
                f"operation {op_id} was recorded as {_describe(op)} but the code now runs "
                f"{type_.value} {sub_type or ''} named {name!r} ({'; '.join(mismatches)}). "
                "Workflow code must call the same operations in the same order on every "
                "replay; deploy changes as a new function version."
            )

    def reached(self, op_id: str, parent_id: str | None) -> None:
        """The code has taken id ``op_id`` (under ``parent_id``): note it if recorded."""
        if op_id in self.operations:  # ids are taken before their operation is created
            self.reached_ids.add(op_id)
            self.reached_children[parent_id] = self.reached_children.get(parent_id, 0) + 1

    def unreached(self, parent_id: str | None) -> list[str]:
        """Recorded operations under ``parent_id`` that the code has not reached (yet)."""
        recorded = self.recorded_children.get(parent_id)
        if not recorded or self.reached_children.get(parent_id, 0) >= len(recorded):
            return []
        return [op_id for op_id in recorded if op_id not in self.reached_ids]

    def nondeterminism(self, message: str) -> None:
        error = NonDeterministicError(message)
        self.fail(error)
        raise error


def _describe(op: Operation) -> str:
    parts = [op.type.value]
    if op.sub_type:
        parts.append(op.sub_type)
    if op.name:
        parts.append(f"named {op.name!r}")
    if op.parent_id:
        parts.append(f"under {op.parent_id}")
    return " ".join(parts)
