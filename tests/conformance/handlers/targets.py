"""Functions the invoke suite calls; each is a durable function of its own.

The names are the function names a backend registers them under (see the manifest's
``targets``). Each target first waits one second, durably: a chained target is another
Lambda function that does not answer before the invocation that started it has
returned, and the requirements' histories record exactly that order
(``InvocationCompleted`` before ``ChainedInvokeSucceeded``). An instant in-process
target would race the caller's own suspension.
"""

from __future__ import annotations

from typing import Any

from aiodurable import DurableContext, durable_execution

from ..execution_logs import LOGS

ECHO = "conformance-echo"
FAILING = "conformance-failing"
MEASURE = "conformance-measure"


class TargetFailure(Exception):
    """The failure the failing target reports."""


@durable_execution(logging=LOGS)
async def echo(event: Any, ctx: DurableContext) -> Any:
    await ctx.wait(1)
    return event


@durable_execution(logging=LOGS)
async def failing(event: Any, ctx: DurableContext) -> Any:
    await ctx.wait(1)
    raise TargetFailure("the target function failed")


@durable_execution(logging=LOGS)
async def measure(event: dict[str, str], ctx: DurableContext) -> dict[str, int]:
    await ctx.wait(1)
    return {"received": len(event["data"])}
