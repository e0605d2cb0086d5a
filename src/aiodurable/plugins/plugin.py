"""The base class of instrumentation plugins: one method per hook."""

from __future__ import annotations

from aiodurable.plugins.infos import (
    InvocationEndInfo,
    InvocationStartInfo,
    OperationChangeInfo,
    OperationEndInfo,
    OperationStartInfo,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)

__all__ = ["HOOKS", "DurableInstrumentationPlugin", "Plugin"]


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
        """Right after that user code returned or raised (not when it suspended)."""


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
