"""The base class of instrumentation plugins: one method per hook."""

from __future__ import annotations

from typing import Protocol, TypeAlias

from aiodurable.plugins.infos import (
    InvocationEndInfo,
    InvocationStartInfo,
    OperationChangeInfo,
    OperationEndInfo,
    OperationStartInfo,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)

__all__ = [
    "HOOKS",
    "DurableInstrumentationPlugin",
    "DurableInstrumentationPluginFactory",
    "Plugin",
    "PluginEntry",
    "PluginFactory",
]


class Plugin:
    """Base class of instrumentation plugins; every hook does nothing by default.

    Override the hooks you need. Hooks run synchronously: the invocation hooks and the
    user-function hooks in the task (or, for a sync step function, the worker thread)
    that runs the code they describe, the operation hooks in the task that queued or
    observed the change. A hook that raises is logged and ignored.
    """

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        """Before the workflow runs in an invocation."""

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        """After the invocation's output is decided."""

    def on_operation_start(self, info: OperationStartInfo) -> None:
        """Before an operation's START is queued (``is_replayed`` when it was recorded
        before, as a retry's new START is), or when replay reaches an operation recorded
        as still pending (``is_replayed=True``). Operations that were terminal before
        the invocation are not reported again."""

    def on_operation_end(self, info: OperationEndInfo) -> None:
        """Once per operation, when it reaches a terminal status: from the checkpoint
        response that reports it, or, for an operation the service completed while the
        function was suspended (a wait, a callback, an invoke), when replay reaches it.
        Child contexts that end without a checkpoint of their own report here too."""

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        """After a checkpoint response changed the status of some operations."""

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        """Right before user code owned by an operation runs: a step attempt, a
        wait-for-condition check, a child context, parallel branch or map item function."""

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        """Exactly once after each ``on_user_function_start``, in the same task or
        thread: ``SUCCEEDED`` when the code returned, ``FAILED`` when it raised,
        ``INCOMPLETE`` when it left without an outcome (suspension, an abandoned
        branch, process exit)."""


class PluginFactory(Protocol):
    """Builds the plugin instance that serves one invocation (the official SDK's
    ``DurableInstrumentationPluginFactory``).

    Pass the factory in ``plugins=``: ``create_plugin`` is called once per invocation,
    before any hook, with the invocation's start info. The instance keeps that
    invocation's state in plain attributes; what must outlive an invocation (an
    exporter, a client) belongs to the factory. A ``create_plugin`` that raises or
    returns ``None`` is logged, and the invocation runs without that plugin.

    >>> class TimingFactory:
    ...     def create_plugin(self, info: InvocationStartInfo, /) -> Plugin:
    ...         return Timing()
    """

    def create_plugin(self, info: InvocationStartInfo, /) -> Plugin | None:
        """The plugin instance for the invocation ``info`` describes."""
        ...


#: The official SDK's name of :class:`PluginFactory`.
DurableInstrumentationPluginFactory = PluginFactory

#: What ``plugins=`` takes: a plugin instance (shared by every invocation) or a factory.
PluginEntry: TypeAlias = "Plugin | PluginFactory"


#: The official SDK's name of the base class, for code ported from it.
DurableInstrumentationPlugin = Plugin

HOOKS = (
    "on_invocation_start",
    "on_invocation_end",
    "on_operation_start",
    "on_operation_end",
    "on_operation_change",
    "on_user_function_start",
    "on_user_function_end",
)
