"""``@durable_execution``: turn an ``async def`` workflow into a Lambda handler."""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

import msgspec

from aiodurable.context import DurableContext, LoggingConfig
from aiodurable.errors import InvocationExitError, ValidationError
from aiodurable.invocation import decode_invocation, run_invocation
from aiodurable.lambda_context import current_lambda_context
from aiodurable.plugins.discovery import configured_plugins
from aiodurable.plugins.dispatch import PluginSet
from aiodurable.plugins.plugin import PluginEntry
from aiodurable.serdes import convert
from aiodurable.service.base import DurableServiceClient

__all__ = ["DurableHandler", "durable_execution"]

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")

Workflow = Callable[[I, DurableContext], Awaitable[R]]

_runner: asyncio.Runner | None = None


def _shared_runner() -> asyncio.Runner:
    """One event loop for every warm invocation of this Lambda process."""
    global _runner
    if _runner is None:
        _runner = asyncio.Runner()
    return _runner


def _input_type(workflow: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(workflow)
    except Exception:
        return Any
    params = list(inspect.signature(workflow).parameters)
    if not params:
        return Any
    return hints.get(params[0], Any)


class DurableHandler(Generic[I, R]):
    """A durable workflow as a Lambda handler.

    * ``handler(event, lambda_context)`` — the plain Lambda entry point; it keeps one
      event loop and one Lambda client alive across warm invocations.
    * ``await handler.run(event, lambda_context)`` — the same from code that already runs
      an event loop.

    Both accept ``client=``: any :class:`~aiodurable.service.DurableServiceClient`
    (the local backend, a test fake, or a ``LambdaServiceClient`` around your own
    aiobotocore/aioboto3 client).
    """

    def __init__(
        self,
        workflow: Workflow[I, R],
        *,
        client: DurableServiceClient | None = None,
        logging: LoggingConfig | None = None,
        plugins: Sequence[PluginEntry] = (),
    ) -> None:
        if not inspect.iscoroutinefunction(workflow):
            raise ValidationError(
                f"{getattr(workflow, '__qualname__', workflow)!r} must be an async function: "
                "declare it with 'async def'"
            )
        self.workflow = workflow
        self.logging = logging
        # Resolved once: the environment's plugins are looked up when the handler is built.
        self.plugins = PluginSet(configured_plugins(plugins))
        self._client = client
        self._input_type = _input_type(workflow)
        functools.update_wrapper(self, workflow)

    def decode_input(self, payload: str | None) -> Any:
        """The workflow's input from the EXECUTION operation's payload (docs/protocol.md §1.4)."""
        if payload is None or not payload.strip():
            data: Any = {}
        else:
            try:
                data = msgspec.json.decode(payload)
            except msgspec.DecodeError as exc:
                raise ValidationError(f"the execution input is not JSON: {exc}") from exc
        if self._input_type is Any:
            return data
        try:
            return convert(data, self._input_type)
        except msgspec.ValidationError as exc:
            raise ValidationError(
                f"the execution input does not match {self._input_type!r}: {exc}"
            ) from exc

    async def _default_client(self) -> DurableServiceClient:
        if self._client is None:
            from aiodurable.service.lambda_client import LambdaServiceClient

            self._client = await LambdaServiceClient.create()
        return self._client

    async def run(
        self,
        event: Any,
        lambda_context: Any = None,
        *,
        client: DurableServiceClient | None = None,
    ) -> dict[str, Any]:
        """Run one invocation on the current event loop; returns the output envelope."""
        if client is None and self._client is None and not _looks_durable(event):
            # Before the first client is made: outside Lambda, making it can fail on its
            # own (no region), hiding the error that says what is really wrong.
            decode_invocation(event)
        service = client if client is not None else await self._default_client()
        # The workflow's root context picks the Lambda context up from here.
        token = current_lambda_context.set(lambda_context)
        try:
            return await run_invocation(
                self.workflow,
                event,
                service,
                decode_input=self.decode_input,
                logging=self.logging,
                plugins=self.plugins,
                request_id=getattr(lambda_context, "aws_request_id", None),
            )
        finally:
            current_lambda_context.reset(token)

    def __call__(self, event: Any, lambda_context: Any = None) -> dict[str, Any]:
        try:
            return _shared_runner().run(self.run(event, lambda_context))
        except InvocationExitError as exited:
            # The Lambda entry point: here the process does end, as the workflow asked, so
            # that Lambda reports the invocation as Runtime.ExitError and invokes again.
            raise SystemExit(getattr(exited.__cause__, "code", 1)) from exited


def _looks_durable(event: Any) -> bool:
    return (
        isinstance(event, Mapping) and "DurableExecutionArn" in event and "CheckpointToken" in event
    )


@overload
def durable_execution(workflow: Workflow[I, R], /) -> DurableHandler[I, R]: ...


@overload
def durable_execution(
    *,
    client: DurableServiceClient | None = None,
    logging: LoggingConfig | None = None,
    plugins: Sequence[PluginEntry] = (),
) -> Callable[[Workflow[I, R]], DurableHandler[I, R]]: ...


def durable_execution(
    workflow: Workflow[I, R] | None = None,
    /,
    *,
    client: DurableServiceClient | None = None,
    logging: LoggingConfig | None = None,
    plugins: Sequence[PluginEntry] = (),
) -> DurableHandler[I, R] | Callable[[Workflow[I, R]], DurableHandler[I, R]]:
    """Make ``async def workflow(input, ctx)`` a durable Lambda handler.

    >>> @durable_execution
    ... async def handler(order: dict, ctx: DurableContext) -> str:
    ...     return await ctx.step(lambda: "done", name="finish")
    """

    def wrap(fn: Workflow[I, R]) -> DurableHandler[I, R]:
        return DurableHandler(fn, client=client, logging=logging, plugins=plugins)

    if workflow is not None:
        return wrap(workflow)
    return wrap
