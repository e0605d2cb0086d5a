"""From runtime events to hook calls: :class:`PluginSet` and :class:`InvocationHooks`.

A :class:`PluginSet` belongs to a handler and isolates each plugin's failures. Each
invocation asks it for an :class:`InvocationHooks`, which keeps what the contract needs
across one invocation: the operations recorded when it started, the ids the service
updated while the function was suspended, and which operations were already reported.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from types import TracebackType
from typing import cast

import msgspec

from aiodurable.errors import error_object_from_exception
from aiodurable.plugins.infos import (
    InvocationEndInfo,
    InvocationEndStatus,
    InvocationStartInfo,
    OperationChangeInfo,
    OperationEndInfo,
    OperationInfo,
    OperationStartInfo,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
    identified,
    info_of,
)
from aiodurable.plugins.plugin import HOOKS, Plugin, PluginEntry, PluginFactory
from aiodurable.wire import (
    TERMINAL_STATUSES,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)
from aiodurable.wire.identity import OperationIdentity

__all__ = ["NO_PLUGINS", "InvocationHooks", "PluginSet", "is_plugin_factory"]

_logger = logging.getLogger("aiodurable.plugins")


class PluginSet:
    """The plugins of one handler; calls a hook on each, isolating their failures.

    It holds plugin instances, shared by every invocation, and plugin factories, asked
    for a fresh instance at the start of each invocation (:meth:`for_invocation`).
    """

    __slots__ = ("_factories", "_plugins", "_wants")

    def __init__(self, plugins: Sequence[PluginEntry]) -> None:
        self._factories = tuple(cast(PluginFactory, p) for p in plugins if is_plugin_factory(p))
        self._plugins = tuple(cast(Plugin, p) for p in plugins if not is_plugin_factory(p))
        # A hook is dispatched only to the plugins that override it (infos cost something).
        self._wants = {
            hook: tuple((p, getattr(p, hook)) for p in self._plugins if _overrides(p, hook))
            for hook in HOOKS
        }

    def __bool__(self) -> bool:
        return bool(self._plugins or self._factories)

    def for_invocation(self, start: InvocationStartInfo) -> PluginSet:
        """The plugins serving the invocation ``start`` describes: the instances, then one
        new instance from each factory (a factory that raises or returns ``None`` is
        logged and left out of this invocation)."""
        if not self._factories:
            return self
        created: list[Plugin] = []
        for factory in self._factories:
            name = type(factory).__qualname__
            try:
                plugin = factory.create_plugin(start)
            except Exception:
                _logger.warning(
                    "plugin factory %s failed for execution %s; the invocation runs without it",
                    name,
                    start.execution_arn,
                    exc_info=True,
                    extra={"executionArn": start.execution_arn},
                )
                continue
            if plugin is None:
                _logger.warning(
                    "plugin factory %s returned None for execution %s; no plugin this time",
                    name,
                    start.execution_arn,
                    extra={"executionArn": start.execution_arn},
                )
                continue
            created.append(plugin)
        return PluginSet([*self._plugins, *created])

    def wants(self, hook: str) -> bool:
        """Whether any plugin overrides ``hook``."""
        return bool(self._wants.get(hook))

    def call(self, hook: str, info: object) -> None:
        """Call ``hook`` on every plugin that has it; an exception from one is logged."""
        for plugin, method in self._wants.get(hook, ()):
            try:
                method(info)
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
        updated_ids: Iterable[str] = (),
        request_id: str | None = None,
    ) -> InvocationHooks:
        """The hooks of one invocation, which starts with ``operations`` recorded
        (``operations`` is the invocation's live map: later merges show through)."""
        return InvocationHooks(self, arn, operations, updated_ids, request_id)


def is_plugin_factory(entry: object) -> bool:
    """Whether a ``plugins=`` entry is a factory (it has a ``create_plugin`` method)."""
    return callable(getattr(entry, "create_plugin", None))


def _overrides(plugin: Plugin, hook: str) -> bool:
    return getattr(type(plugin), hook, None) is not getattr(Plugin, hook)


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
        op = self._operations[key]
        return info_of(OperationInfo, op, is_replayed=False, execution_arn=self._arn)

    def __iter__(self) -> Iterator[str]:
        return iter(self._operations if self._ids is None else self._ids)

    def __len__(self) -> int:
        return len(self._operations if self._ids is None else self._ids)

    def __repr__(self) -> str:
        return (
            f"<{len(self)} operations: {', '.join(list(self)[:5])}{', …' if len(self) > 5 else ''}>"
        )

    def __contains__(self, key: object) -> bool:
        if self._ids is not None:
            return key in self._ids
        return key in self._operations


def _now() -> datetime:
    return datetime.now(UTC)


class InvocationHooks:
    """What one invocation reports to the plugins; the runtime calls these methods.

    Every method returns at once when the handler has no plugin (``enabled`` is false).
    """

    __slots__ = (
        "_arn",
        "_ended",
        "_initial",
        "_operations",
        "_plugins",
        "_start",
        "_updated",
        "_visited",
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
        self._initial = frozenset(operations) if self.enabled else frozenset[str]()
        self._updated = frozenset(updated_ids)
        self._visited: set[str] = set()
        self._ended: set[str] = set()
        if not self.enabled:
            return  # no plugin will ask: build no info (``_start`` stays unset)
        first = not any(op.type is not OperationType.EXECUTION for op in operations.values())
        execution_op = next(
            (op for op in operations.values() if op.type is OperationType.EXECUTION), None
        )
        snapshot = dict(operations)
        self._start = InvocationStartInfo(
            request_id=request_id or f"local-{uuid.uuid4()}",
            execution_arn=arn,
            is_first_invocation=first,
            execution_start_time=execution_op.start_timestamp if execution_op else None,
            operations=_InfoView(arn, snapshot),
            updated_operations=_InfoView(arn, snapshot, self._updated),
        )
        self._plugins = plugins.for_invocation(self._start)

    # -- invocation ------------------------------------------------------------------------
    def started(self) -> None:
        if self.enabled:
            self._plugins.call("on_invocation_start", self._start)

    def ended(self, output: Mapping[str, object]) -> None:
        """The invocation returns ``output`` (its output envelope)."""
        if not self.enabled:
            return
        raw_error = output.get("Error")
        error = msgspec.convert(raw_error, ErrorObject) if isinstance(raw_error, dict) else None
        self._end_invocation(InvocationEndStatus(str(output["Status"])), error)

    def crashed(self, exc: BaseException) -> None:
        """The invocation raises ``exc``: Lambda invokes again, the execution goes on."""
        if self.enabled:
            self._end_invocation(InvocationEndStatus.RETRY, error_object_from_exception(exc))

    def _end_invocation(self, status: InvocationEndStatus, error: ErrorObject | None) -> None:
        start = self._start
        self._plugins.call(
            "on_invocation_end",
            InvocationEndInfo(
                request_id=start.request_id,
                execution_arn=start.execution_arn,
                is_first_invocation=start.is_first_invocation,
                execution_start_time=start.execution_start_time,
                operations=_InfoView(self._arn, dict(self._operations)),
                updated_operations=start.updated_operations,
                status=status,
                error=error,
            ),
        )

    # -- operations ------------------------------------------------------------------------
    def queued(self, update: OperationUpdate) -> None:
        """An update is about to be queued: a START fires ``on_operation_start``."""
        if (
            not self.enabled
            or update.action is not OperationAction.START
            or update.type is OperationType.EXECUTION
        ):
            return
        previous = self._operations.get(update.id)
        self._plugins.call(
            "on_operation_start",
            OperationStartInfo(
                operation_id=update.id,
                operation_type=update.type,
                sub_type=update.sub_type,
                name=update.name,
                parent_id=update.parent_id,
                start_time=previous.start_timestamp if previous is not None else None,
                is_replayed=previous is not None,
                status=OperationStatus.STARTED,
                attempt=_next_attempt(update, previous),
                execution_arn=self._arn,
            ),
        )

    def visited(self, op: Operation) -> None:
        """Workflow code reached ``op``; reports it the first time for an operation
        recorded before the invocation.

        An operation the service completed while the function was suspended reports its
        end; one still pending (not READY to run again) reports a replayed start.
        """
        if (
            not self.enabled
            or op.id in self._visited
            or op.id not in self._initial
            or op.type is OperationType.EXECUTION
        ):
            return
        self._visited.add(op.id)
        if op.status in TERMINAL_STATUSES:
            if op.id in self._updated:
                self._end(op)
        elif op.status is not OperationStatus.READY:
            self._plugins.call(
                "on_operation_start",
                info_of(OperationStartInfo, op, is_replayed=True, execution_arn=self._arn),
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
            if op.type is not OperationType.EXECUTION and op.status in TERMINAL_STATUSES:
                self._end(op)
        if changed and self._plugins.wants("on_operation_change"):
            self._plugins.call(
                "on_operation_change",
                OperationChangeInfo(
                    execution_arn=self._arn,
                    updated_operations=_InfoView(self._arn, self._operations, changed),
                    operations=_InfoView(self._arn, self._operations),
                ),
            )

    def _end(self, op: Operation) -> None:
        if op.id in self._ended:
            return
        self._ended.add(op.id)
        self._plugins.call(
            "on_operation_end",
            info_of(OperationEndInfo, op, is_replayed=False, execution_arn=self._arn),
        )

    def context_ended(
        self,
        identity: OperationIdentity,
        status: OperationStatus,
        error: ErrorObject | None = None,
        *,
        is_replayed: bool | None = None,
    ) -> None:
        """A context ended without a checkpoint of its own: a FLAT branch, a virtual
        child context, or a context that re-ran to rebuild its large result.

        ``is_replayed`` (by default: whether the context is recorded) says that it had
        already ended in an earlier invocation."""
        operation_id = identity.id
        if not self.enabled or operation_id in self._ended:
            return
        self._ended.add(operation_id)
        recorded = self._operations.get(operation_id)
        self._plugins.call(
            "on_operation_end",
            identified(
                OperationEndInfo,
                identity,
                start_time=recorded.start_timestamp if recorded is not None else None,
                end_time=_now(),
                is_replayed=operation_id in self._initial if is_replayed is None else is_replayed,
                status=status,
                error=error,
                execution_arn=self._arn,
            ),
        )

    # -- user functions --------------------------------------------------------------------
    def user_function(
        self,
        identity: OperationIdentity,
        *,
        attempt: int | None = None,
        is_replay_children: bool = False,
    ) -> AbstractContextManager[None]:
        """Wrap one run of user code: the start hook, then exactly one end hook.

        A return is ``SUCCEEDED``; an exception is ``FAILED`` and propagates; any other
        exit (a cancellation: the invocation suspends or an early completion abandons
        the branch; ``SystemExit``, ``KeyboardInterrupt``, a closed coroutine) is
        ``INCOMPLETE`` and propagates too.
        """
        if not self.enabled:
            return _NO_HOOKS
        return _UserFunctionRun(
            self,
            identified(
                UserFunctionStartInfo,
                identity,
                start_time=_now(),
                is_replayed=identity.id in self._initial,
                status=OperationStatus.STARTED,
                attempt=attempt,
                is_replay_children=is_replay_children,
                execution_arn=self._arn,
            ),
        )

    def _end_user_function(
        self,
        start: UserFunctionStartInfo,
        outcome: UserFunctionOutcome,
        error: ErrorObject | None = None,
    ) -> None:
        self._plugins.call(
            "on_user_function_end",
            UserFunctionEndInfo(
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
                outcome=outcome,
                error=error,
                execution_arn=start.execution_arn,
            ),
        )


class _UserFunctionRun:
    """The context manager :meth:`InvocationHooks.user_function` returns (a plain class:
    it runs around every attempt, where a generator-based one costs more)."""

    __slots__ = ("_hooks", "_start")

    def __init__(self, hooks: InvocationHooks, start: UserFunctionStartInfo) -> None:
        self._hooks = hooks
        self._start = start

    def __enter__(self) -> None:
        self._hooks._plugins.call("on_user_function_start", self._start)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        hooks = self._hooks
        if exc is None:
            hooks._end_user_function(self._start, UserFunctionOutcome.SUCCEEDED)
        elif isinstance(exc, Exception):
            hooks._end_user_function(
                self._start, UserFunctionOutcome.FAILED, error_object_from_exception(exc)
            )
        else:  # left without an outcome of its own (cancelled, exiting)
            hooks._end_user_function(self._start, UserFunctionOutcome.INCOMPLETE)
        # returns None: the exception, if any, propagates


_NO_HOOKS = nullcontext()


def _next_attempt(update: OperationUpdate, previous: Operation | None) -> int | None:
    if update.type is not OperationType.STEP:
        return None
    if previous is None or previous.step_details is None:
        return 1
    return (previous.step_details.attempt or 0) + 1


NO_PLUGINS = PluginSet(())
