"""aiodurable, from this repository's ``src/``: ``async def`` workflows and steps.

The handler's service client is injected the way aiodurable supports
(``durable_execution(client=...)``): aiodurable's own ``LambdaServiceClient`` around the
fake API's async facade, in place of an aiobotocore Lambda client — so its msgspec
conversion, ClientToken and error classification are all measured.
"""

from __future__ import annotations

from typing import Any

from aiodurable import DurableContext, durable_execution
from aiodurable.service import LambdaServiceClient
from benchmarks.adapters.base import Adapter, Handler, NotAvailable
from benchmarks.fake_lambda import FakeLambdaApi
from benchmarks.workloads import big_object

__all__ = ["AiodurableAdapter"]


class _LambdaApi:
    """An aiobotocore Lambda client stand-in whose target changes per run."""

    api: FakeLambdaApi

    async def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        return await self.api.call_async(self.api.checkpoint_durable_execution, **kwargs)

    async def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return await self.api.call_async(self.api.get_durable_execution_state, **kwargs)


async def noop(i: int) -> int:
    return i


async def big(i: int) -> dict[str, Any]:
    return big_object(i)


async def w0(event: dict[str, Any], ctx: DurableContext) -> str:
    return "ok"


async def w1(event: dict[str, Any], ctx: DurableContext) -> int:
    total = 0
    for i in range(event["n"]):
        total += await ctx.step(noop, i, name="noop")
    return total


async def w2(event: dict[str, Any], ctx: DurableContext) -> int:
    return await w1({"n": event["n"] + 1}, ctx)


async def _item(ctx: DurableContext, item: int, index: int) -> int:
    return await ctx.step(noop, item, name="noop")


async def w3(event: dict[str, Any], ctx: DurableContext) -> int:
    result = await ctx.map(list(range(event["n"])), _item)  # type: ignore[attr-defined]
    return sum(result.get_results())


def _branch(i: int) -> Any:
    async def branch(ctx: DurableContext) -> int:
        return await ctx.step(noop, i, name="noop")

    return branch


async def w4(event: dict[str, Any], ctx: DurableContext) -> int:
    result = await ctx.parallel([_branch(i) for i in range(event["n"])])  # type: ignore[attr-defined]
    return sum(result.get_results())


async def w5(event: dict[str, Any], ctx: DurableContext) -> int:
    rows = 0
    for i in range(event["n"]):
        rows += len((await ctx.step(big, i, name="big"))["rows"])
    return rows


_WORKFLOWS = {"W0": w0, "W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5}
_NEEDS = {"W3": "map", "W4": "parallel"}


class AiodurableAdapter(Adapter):
    sdk = "aiodurable"
    package = "aiodurable"
    handler_module_code = (
        "from aiodurable import durable_execution\n"
        "@durable_execution\n"
        "async def handler(event, ctx):\n"
        "    return 'ok'\n"
    )

    def __init__(self) -> None:
        self._lambda = _LambdaApi()
        self._client = LambdaServiceClient(self._lambda)

    def handler(self, workload: str) -> Handler:
        needed = _NEEDS.get(workload)
        if needed is not None and not hasattr(DurableContext, needed):
            raise NotAvailable(
                f"this aiodurable build has no DurableContext.{needed} yet; {workload} not measured"
            )
        return durable_execution(client=self._client)(_WORKFLOWS[workload])

    def bind(self, api: FakeLambdaApi) -> None:
        self._lambda.api = api


ADAPTER = AiodurableAdapter
