"""Instrumentation plugins: hooks around invocations, operations and user functions.

Subclass :class:`Plugin` (also exported as ``DurableInstrumentationPlugin``, the official
SDK's name), override the hooks you need and pass instances — or factories that build one
instance per invocation (:class:`PluginFactory`) — to ``@durable_execution(plugins=[...])``;
``DURABLE_EXECUTION_PLUGINS`` adds installed ones by entry-point name
(:mod:`aiodurable.plugins.discovery`). The hooks and their info objects follow the
official SDK's plugin contract field for field; every info also names its execution.
Hooks are plain functions called synchronously; an exception raised by a hook is logged
and ignored, so a faulty plugin can never change a workflow's result or history, nor keep
the other plugins from their hooks. docs/plugins.md says when each hook fires.

>>> class Timing(Plugin):
...     def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
...         print(info.operation_id, info.attempt, info.outcome)
"""

from aiodurable.plugins.infos import (
    InvocationEndInfo,
    InvocationEndStatus,
    InvocationInfo,
    InvocationStartInfo,
    OperationChangeInfo,
    OperationEndInfo,
    OperationInfo,
    OperationStartInfo,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
)
from aiodurable.plugins.plugin import (
    DurableInstrumentationPlugin,
    DurableInstrumentationPluginFactory,
    Plugin,
    PluginFactory,
)

__all__ = [
    "DurableInstrumentationPlugin",
    "DurableInstrumentationPluginFactory",
    "InvocationEndInfo",
    "InvocationEndStatus",
    "InvocationInfo",
    "InvocationStartInfo",
    "OperationChangeInfo",
    "OperationEndInfo",
    "OperationInfo",
    "OperationStartInfo",
    "Plugin",
    "PluginFactory",
    "UserFunctionEndInfo",
    "UserFunctionOutcome",
    "UserFunctionStartInfo",
]
