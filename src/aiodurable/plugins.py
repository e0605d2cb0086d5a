"""Instrumentation plugins: hooks around invocations, operations and step attempts.

Subclass :class:`Plugin`, override the hooks you need and pass instances to
``@durable_execution(plugins=[...])``. Hooks are plain functions called synchronously;
an exception raised by a hook is logged and ignored, so a faulty plugin can never change
a workflow's result or history.

>>> class Timing(Plugin):
...     def on_attempt_end(self, info: AttemptEndInfo) -> None:
...         print(info.operation_id, info.attempt, info.outcome)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from aiodurable.wire import TERMINAL_STATUSES, ErrorObject, Operation, OperationStatus

__all__ = [
    "AttemptEndInfo",
    "AttemptInfo",
    "InvocationEndInfo",
    "InvocationStartInfo",
    "OperationEndInfo",
    "OperationInfo",
    "Plugin",
    "PluginSet",
]


class InvocationStartInfo(msgspec.Struct, frozen=True):
    """Passed to ``on_invocation_start``."""

    execution_arn: str
    #: True when no operation has been recorded yet: the execution's first invocation.
    is_first_invocation: bool


class InvocationEndInfo(msgspec.Struct, frozen=True):
    """Passed to ``on_invocation_end``: the status the invocation returns."""

    execution_arn: str
    status: Literal["SUCCEEDED", "FAILED", "PENDING"]


class OperationInfo(msgspec.Struct, frozen=True):
    """Passed to ``on_operation_start``: the operation's identity."""

    execution_arn: str
    operation_id: str
    type: str
    sub_type: str | None
    name: str | None
    parent_id: str | None


class OperationEndInfo(msgspec.Struct, frozen=True):
    """Passed to ``on_operation_end``: the identity and terminal status."""

    execution_arn: str
    operation_id: str
    type: str
    sub_type: str | None
    name: str | None
    parent_id: str | None
    status: str


class AttemptInfo(msgspec.Struct, frozen=True):
    """Passed to ``on_attempt_start``: the operation and the attempt number (1-based)."""

    execution_arn: str
    operation_id: str
    name: str | None
    attempt: int


class AttemptEndInfo(msgspec.Struct, frozen=True):
    """Passed to ``on_attempt_end``: the attempt's outcome and error."""

    execution_arn: str
    operation_id: str
    name: str | None
    attempt: int
    outcome: Literal["SUCCEEDED", "FAILED"]
    error: ErrorObject | None = None


class Plugin:
    """Base class of instrumentation plugins; every hook does nothing by default."""

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        """Before the workflow runs in an invocation."""

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        """After the invocation's output is decided."""

    def on_operation_start(self, info: OperationInfo) -> None:
        """When the service first reports an operation as started (once per operation)."""

    def on_operation_end(self, info: OperationEndInfo) -> None:
        """When the service reports an operation in a terminal status (once)."""

    def on_attempt_start(self, info: AttemptInfo) -> None:
        """Right before a step (or wait-for-condition check) attempt runs user code."""

    def on_attempt_end(self, info: AttemptEndInfo) -> None:
        """Right after the user code of an attempt returned or raised."""


class PluginSet:
    """Dispatches hooks to several plugins, isolating each from the others' failures."""

    __slots__ = ("_plugins",)

    def __init__(self, plugins: Sequence[Plugin]) -> None:
        self._plugins = tuple(plugins)

    def __bool__(self) -> bool:
        return bool(self._plugins)

    def call(self, hook: str, info: object) -> None:
        """Call ``hook`` on every plugin; an exception from one is logged and ignored."""
        for plugin in self._plugins:
            try:
                getattr(plugin, hook)(info)
            except Exception:
                import logging

                arn = getattr(info, "execution_arn", None)
                logging.getLogger("aiodurable.plugins").warning(
                    "plugin %s failed in %s for execution %s; ignored",
                    type(plugin).__qualname__,
                    hook,
                    arn,
                    exc_info=True,
                    extra={"executionArn": arn},
                )

    def observe(self, arn: str, before: Operation | None, after: Operation) -> None:
        """Fire operation hooks for a change the service reported."""
        started = before is None
        ended = after.status in TERMINAL_STATUSES and (
            before is None or before.status not in TERMINAL_STATUSES
        )
        if started and after.type.value != "EXECUTION":
            self.call(
                "on_operation_start",
                OperationInfo(
                    arn, after.id, after.type.value, after.sub_type, after.name, after.parent_id
                ),
            )
        if ended and after.type.value != "EXECUTION":
            self.call(
                "on_operation_end",
                OperationEndInfo(
                    arn,
                    after.id,
                    after.type.value,
                    after.sub_type,
                    after.name,
                    after.parent_id,
                    OperationStatus(after.status).value,
                ),
            )


NO_PLUGINS = PluginSet(())
