"""Instrumentation plugins: hooks around invocations, operations and user functions.

Subclass :class:`Plugin`, override the hooks you need and pass instances to
``@durable_execution(plugins=[...])``. The hooks and their info objects follow the
official SDK's plugin contract (``DurableInstrumentationPlugin``), field for field, with
a few additions (each info names its execution; invocation infos carry the operation
maps). Hooks are plain functions called synchronously on the event loop; an exception
raised by a hook is logged and ignored, so a faulty plugin can never change a workflow's
result or history, nor keep the other plugins from their hooks.

When each hook fires:

- ``on_invocation_start`` / ``on_invocation_end``: around every invocation, with the
  invocation's status (``SUCCEEDED``, ``FAILED`` or ``PENDING``) at the end.
- ``on_operation_start``: before an operation's START checkpoint is queued
  (``is_replayed=False``; a retry's new START reports ``is_replayed=True``), and when
  replay reaches an operation recorded as still running (``is_replayed=True``).
  Operations that were terminal before the invocation are not re-emitted.
- ``on_operation_end``: once, when an operation reaches a terminal status — from the
  checkpoint response that reports it, or, for an operation the service completed
  while the function was suspended (a wait, a callback, an invoke), when replay
  reaches it. Child contexts that end without a checkpoint of their own report here
  too.
- ``on_operation_change``: after each checkpoint response is merged, with the
  operations whose status changed and the full operation map.
- ``on_user_function_start`` / ``on_user_function_end``: around each run of user code
  that an operation owns — every step attempt (``attempt`` numbered from 1), every
  wait-for-condition check, and every child context, parallel branch and map item
  function (``is_replay_children`` tells that the function re-runs to replay its
  recorded children).

>>> class Timing(Plugin):
...     def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
...         print(info.operation_id, info.attempt, info.outcome)
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

import msgspec

from aiodurable.errors import error_object_from_exception
from aiodurable.wire import (
    TERMINAL_STATUSES,
    ErrorObject,
    InvocationStatus,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

__all__ = [
    "DurableInstrumentationPlugin",
    "InvocationEndInfo",
    "InvocationInfo",
    "InvocationStartInfo",
    "OperationChangeInfo",
    "OperationEndInfo",
    "OperationInfo",
    "OperationStartInfo",
    "Plugin",
    "PluginSet",
    "UserFunctionEndInfo",
    "UserFunctionOutcome",
    "UserFunctionStartInfo",
]

_logger = logging.getLogger("aiodurable.plugins")


class OperationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An operation as a hook sees it (the base of every operation-level info)."""

    execution_arn: str | None = None
    operation_id: str
    operation_type: OperationType
    #: The wire sub-type token: ``Step``, ``Wait``, ``RunInChildContext``, ``Parallel``,
    #: ``ParallelBranch``, ``Map``, ``MapIteration``, ``WaitForCallback``, …
    sub_type: str | None
    name: str | None
    parent_id: str | None
    start_time: datetime | None
    #: True when the operation was observed through recorded state rather than started
    #: by this invocation.
    is_replayed: bool
    status: OperationStatus
    end_time: datetime | None = None
    #: The checkpointed serialized result, exactly as recorded.
    result: str | None = None
    error: ErrorObject | None = None
    attempt: int | None = None

    @classmethod
    def from_operation(
        cls, operation: Operation, *, execution_arn: str | None = None, is_replayed: bool = False
    ) -> OperationInfo:
        """The info of a recorded operation."""
        return _from_operation(cls, operation, execution_arn, is_replayed)


class OperationStartInfo(OperationInfo, frozen=True, kw_only=True):
    """Passed to ``on_operation_start``."""


class OperationEndInfo(OperationInfo, frozen=True, kw_only=True):
    """Passed to ``on_operation_end``: ``status`` is terminal."""


class OperationChangeInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Passed to ``on_operation_change``.

    ``operations`` is a read-only view of the invocation's operations, valid during the
    hook (copy it with ``dict(info.operations)`` to keep it).
    """

    execution_arn: str | None
    updated_operations: Mapping[str, OperationInfo]
    operations: Mapping[str, OperationInfo]


class UserFunctionOutcome(enum.StrEnum):
    """How a run of user code ended."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class UserFunctionStartInfo(OperationInfo, frozen=True, kw_only=True):
    """Passed to ``on_user_function_start``; ``start_time`` is now."""

    #: True when a context function re-runs so that its recorded children replay.
    is_replay_children: bool = False


class UserFunctionEndInfo(OperationInfo, frozen=True, kw_only=True):
    """Passed to ``on_user_function_end``; ``end_time`` is now, ``error`` set on failure."""

    is_replay_children: bool = False
    outcome: UserFunctionOutcome


class InvocationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The invocation-level fields both invocation hooks receive."""

    #: The Lambda request id (a local id when the handler runs without a Lambda context).
    request_id: str | None
    execution_arn: str | None
    #: True when no operation had been recorded before: the execution's first invocation.
    is_first_invocation: bool
    execution_start_time: datetime | None = None
    #: Every operation the invocation started with, by id (read-only view).
    operations: Mapping[str, OperationInfo] = msgspec.field(default_factory=dict)
    #: The operations the service changed while the function was suspended
    #: (``UpdatedOperationIds``): fired timers, completed callbacks and invokes.
    updated_operations: Mapping[str, OperationInfo] = msgspec.field(default_factory=dict)


class InvocationStartInfo(InvocationInfo, frozen=True, kw_only=True):
    """Passed to ``on_invocation_start``."""


class InvocationEndInfo(InvocationInfo, frozen=True, kw_only=True):
    """Passed to ``on_invocation_end``: the status the invocation returns, its error."""

    status: InvocationStatus
    error: ErrorObject | None = None


class Plugin:
    """Base class of instrumentation plugins; every hook does nothing by default."""

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        """Before the workflow runs in an invocation."""

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        """After the invocation's output is decided."""

    def on_operation_start(self, info: OperationStartInfo) -> None:
        """Before an operation's START is queued, or when replay finds it still running."""

    def on_operation_end(self, info: OperationEndInfo) -> None:
        """Once, when an operation reaches a terminal status."""

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        """After a checkpoint response changed the status of some operations."""

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        """Right before user code owned by an operation runs (a step attempt, a branch)."""

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        """Right after that user code returned or raised (not when it was suspended)."""


#: The official SDK's name of the base class, for code ported from it.
DurableInstrumentationPlugin = Plugin

_HOOKS = (
    "on_invocation_start",
    "on_invocation_end",
    "on_operation_start",
    "on_operation_end",
    "on_operation_change",
    "on_user_function_start",
    "on_user_function_end",
)


def _result(op: Operation) -> str | None:
    for details in (op.step_details, op.callback_details, op.chained_invoke_details):
        if details is not None and details.result is not None:
            return details.result
    if op.context_details is not None:
        return op.context_details.result
    return None


def _error(op: Operation) -> ErrorObject | None:
    for details in (
        op.step_details,
        op.callback_details,
        op.chained_invoke_details,
        op.context_details,
    ):
        if details is not None and details.error is not None:
            return details.error
    return None


_Info = TypeVar("_Info", bound=OperationInfo)


def _from_operation(
    cls: type[_Info], op: Operation, arn: str | None, is_replayed: bool
) -> _Info:
    return cls(
        execution_arn=arn,
        operation_id=op.id,
        operation_type=op.type,
        sub_type=op.sub_type,
        name=op.name,
        parent_id=op.parent_id,
        start_time=op.start_timestamp,
        end_time=op.end_timestamp,
        is_replayed=is_replayed,
        status=op.status,
        result=_result(op),
        error=_error(op),
        attempt=op.step_details.attempt if op.step_details is not None else None,
    )


class _InfoView(Mapping[str, OperationInfo]):
    """Operations by id, turned into infos only when a plugin looks at them."""

    __slots__ = ("_arn", "_ids", "_operations")

    def __init__(
        self, arn: str, operations: Mapping[str, Operation], ids: Iterable[str] | None = None
    ) -> None:
        self._arn = arn
        self._operations = operations
        self._ids = None if ids is None else tuple(i for i in ids if i in operations)

    def __getitem__(self, key: str) -> OperationInfo:
        if self._ids is not None and key not in self._ids:
            raise KeyError(key)
        return _from_operation(OperationInfo, self._operations[key], self._arn, False)

    def __iter__(self) -> Iterator[str]:
        return iter(self._operations if self._ids is None else self._ids)

    def __len__(self) -> int:
        return len(self._operations if self._ids is None else self._ids)


def _now() -> datetime:
    return datetime.now(UTC)


class PluginSet:
    """Turns the runtime's events into hook calls, isolating each plugin's failures.

    One set serves one handler; the per-invocation state (the replay bookkeeping) lives
    in the :class:`InvocationHooks` that :meth:`invocation` returns.
    """

    __slots__ = ("_plugins", "_wants")

    def __init__(self, plugins: Sequence[Plugin]) -> None:
        self._plugins = tuple(plugins)
        # Only the hooks a plugin overrides are dispatched to it (infos cost something).
        self._wants = {
            hook: tuple(
                p for p in self._plugins if getattr(type(p), hook, None) is not getattr(Plugin, hook)
            )
            for hook in _HOOKS
        }

    def __bool__(self) -> bool:
        return bool(self._plugins)

    def wants(self, hook: str) -> bool:
        """Whether any plugin overrides ``hook``."""
        return bool(self._wants.get(hook))

    def call(self, hook: str, info: object) -> None:
        """Call ``hook`` on every plugin that has it; an exception from one is logged."""
        for plugin in self._wants.get(hook, ()):
            try:
                getattr(plugin, hook)(info)
            except Exception:
                arn = getattr(info, "execution_arn", None)
                _logger.warning(
                    "plugin %s failed in %s for execution %s; ignored",
                    type(plugin).__qualname__,
                    hook,
                    arn,
                    exc_info=True,
                    extra={"executionArn": arn},
                )

    def invocation(
        self,
        arn: str,
        operations: Mapping[str, Operation],
        *,
        updated_ids: Iterable[str] | None = None,
        request_id: str | None = None,
    ) -> InvocationHooks:
        """The hooks of one invocation, which starts with ``operations`` recorded."""
        return InvocationHooks(self, arn, operations, updated_ids or (), request_id)


class InvocationHooks:
    """What one invocation reports to the plugins; the runtime calls these methods."""

    __slots__ = (
        "_arn",
        "_operations",
        "_plugins",
        "_replayed",
        "_start",
        "_updated",
        "enabled",
    )

    def __init__(
        self,
        plugins: PluginSet,
        arn: str,
        operations: Mapping[str, Operation],
        updated_ids: Iterable[str],
        request_id: str | None,
    ) -> None:
        self._plugins = plugins
        self.enabled = bool(plugins)
        self._arn = arn
        self._operations = operations
        self._updated = frozenset(updated_ids)
        self._replayed: set[str] = set()
        execution_op = next(
            (op for op in operations.values() if op.type is OperationType.EXECUTION), None
        )
        self._start = InvocationStartInfo(
            request_id=request_id or f"local-{uuid.uuid4()}",
            execution_arn=arn,
            is_first_invocation=not any(
                op.type is not OperationType.EXECUTION for op in operations.values()
            ),
            execution_start_time=execution_op.start_timestamp if execution_op else None,
            operations=_InfoView(arn, dict(operations)) if self.enabled else {},
            updated_operations=(
                _InfoView(arn, operations, self._updated) if self.enabled else {}
            ),
        )

    # -- invocation ------------------------------------------------------------------------
    def started(self) -> None:
        if self.enabled:
            self._plugins.call("on_invocation_start", self._start)

    def ended(self, output: Mapping[str, object]) -> None:
        """``output`` is the invocation's output envelope."""
        if not self.enabled:
            return
        start = self._start
        raw_error = output.get("Error")
        error = msgspec.convert(raw_error, ErrorObject) if isinstance(raw_error, dict) else None
        self._plugins.call(
            "on_invocation_end",
            InvocationEndInfo(
                request_id=start.request_id,
                execution_arn=start.execution_arn,
                is_first_invocation=start.is_first_invocation,
                execution_start_time=start.execution_start_time,
                operations=_InfoView(self._arn, self._operations),
                updated_operations=start.updated_operations,
                status=InvocationStatus(str(output["Status"])),
                error=error,
            ),
        )

    # -- operations ------------------------------------------------------------------------
    def queued(self, update: OperationUpdate) -> None:
        """An update is about to be queued: a START fires ``on_operation_start``."""
        if not self.enabled or update.action is not OperationAction.START:
            return
        if update.type is OperationType.EXECUTION:
            return
        previous = self._operations.get(update.id)
        self._plugins.call(
            "on_operation_start",
            OperationStartInfo(
                execution_arn=self._arn,
                operation_id=update.id,
                operation_type=update.type,
                sub_type=update.sub_type,
                name=update.name,
                parent_id=update.parent_id,
                start_time=previous.start_timestamp if previous is not None else None,
                is_replayed=previous is not None,
                status=OperationStatus.STARTED,
                attempt=(
                    (previous.step_details.attempt or 0) + 1
                    if previous is not None and previous.step_details is not None
                    else 1
                    if update.type is OperationType.STEP
                    else None
                ),
            ),
        )

    def visited(self, op: Operation) -> None:
        """Replay reached recorded operation ``op`` (once per operation per invocation).

        A change the service made while the function was suspended is reported as the
        operation's end; an operation still running is reported as replayed.
        """
        if not self.enabled or op.type is OperationType.EXECUTION or op.id in self._replayed:
            return
        self._replayed.add(op.id)
        if op.id in self._updated:
            if op.status in TERMINAL_STATUSES:
                self._plugins.call(
                    "on_operation_end", _from_operation(OperationEndInfo, op, self._arn, False)
                )
        elif op.status not in TERMINAL_STATUSES and op.status is not OperationStatus.READY:
            self._plugins.call(
                "on_operation_start", _from_operation(OperationStartInfo, op, self._arn, True)
            )

    def merged(self, delta: Sequence[Operation], previous: Mapping[str, Operation]) -> None:
        """A checkpoint response changed ``delta``; ``previous`` holds what they were.

        Call it after the operations were merged into the invocation's map.
        """
        if not self.enabled:
            return
        changed: list[str] = []
        for op in delta:
            before = previous.get(op.id)
            if before is not None and before.status is op.status:
                continue
            changed.append(op.id)
            if op.type is OperationType.EXECUTION or op.status not in TERMINAL_STATUSES:
                continue
            if before is None or before.status not in TERMINAL_STATUSES:
                self._plugins.call(
                    "on_operation_end", _from_operation(OperationEndInfo, op, self._arn, False)
                )
        if changed and self._plugins.wants("on_operation_change"):
            self._plugins.call(
                "on_operation_change",
                OperationChangeInfo(
                    execution_arn=self._arn,
                    updated_operations=_InfoView(self._arn, self._operations, changed),
                    operations=_InfoView(self._arn, self._operations),
                ),
            )

    def context_ended(
        self,
        *,
        operation_id: str,
        sub_type: str | None,
        name: str | None,
        parent_id: str | None,
        status: OperationStatus,
        error: ErrorObject | None = None,
        is_replayed: bool = False,
    ) -> None:
        """A child context that has no checkpoint of its own (a virtual context) ended."""
        if self.enabled:
            self._plugins.call(
                "on_operation_end",
                OperationEndInfo(
                    execution_arn=self._arn,
                    operation_id=operation_id,
                    operation_type=OperationType.CONTEXT,
                    sub_type=sub_type,
                    name=name,
                    parent_id=parent_id,
                    start_time=None,
                    end_time=_now(),
                    is_replayed=is_replayed,
                    status=status,
                    error=error,
                ),
            )

    # -- user functions --------------------------------------------------------------------
    @contextmanager
    def user_function(
        self,
        *,
        operation_id: str,
        operation_type: OperationType,
        sub_type: str | None,
        name: str | None,
        parent_id: str | None,
        attempt: int | None = None,
        is_replay_children: bool = False,
    ) -> Iterator[None]:
        """Wrap one run of user code: start hook, then end hook with its outcome.

        An exception is reported as ``FAILED`` and propagates; a cancellation (the
        invocation suspends) reports no end.
        """
        if not self.enabled:
            yield
            return
        recorded = self._operations.get(operation_id)
        start = UserFunctionStartInfo(
            execution_arn=self._arn,
            operation_id=operation_id,
            operation_type=operation_type,
            sub_type=sub_type,
            name=name,
            parent_id=parent_id,
            start_time=_now(),
            is_replayed=recorded is not None,
            status=OperationStatus.STARTED,
            attempt=attempt,
            is_replay_children=is_replay_children,
        )
        self._plugins.call("on_user_function_start", start)
        try:
            yield
        except Exception as exc:
            self._end_user_function(start, error_object_from_exception(exc))
            raise
        self._end_user_function(start, None)

    def _end_user_function(self, start: UserFunctionStartInfo, error: ErrorObject | None) -> None:
        self._plugins.call(
            "on_user_function_end",
            UserFunctionEndInfo(
                execution_arn=start.execution_arn,
                operation_id=start.operation_id,
                operation_type=start.operation_type,
                sub_type=start.sub_type,
                name=start.name,
                parent_id=start.parent_id,
                start_time=start.start_time,
                end_time=_now(),
                is_replayed=start.is_replayed,
                status=start.status,
                attempt=start.attempt,
                is_replay_children=start.is_replay_children,
                outcome=UserFunctionOutcome.FAILED if error else UserFunctionOutcome.SUCCEEDED,
                error=error,
            ),
        )


NO_PLUGINS = PluginSet(())
