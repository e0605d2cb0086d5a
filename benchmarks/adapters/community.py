"""The community async SDK (``async-durable-execution``): ``async def`` workflows.

Operations are module-level functions that find their context in a context variable;
a step is a zero-argument async callable. Its handler wrapper takes a Lambda client
(``boto3_client=``); given one whose methods are coroutine functions it uses its own
``AsyncLambdaClient`` (model conversion included) with no thread hop, so the fake API
is passed through an async facade.
"""

from __future__ import annotations

from typing import Any

from async_durable_execution import durable_execution, map, parallel, step

from benchmarks.adapters.base import Adapter, Handler
from benchmarks.fake_lambda import FakeLambdaApi
from benchmarks.workloads import big_object

__all__ = ["CommunityAdapter"]


class _Client:
    """An async Lambda client stand-in whose target changes per run."""

    api: FakeLambdaApi

    async def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        return await self.api.call_async(self.api.checkpoint_durable_execution, **kwargs)

    async def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return await self.api.call_async(self.api.get_durable_execution_state, **kwargs)


def _value(i: int) -> Any:
    async def noop() -> int:
        return i

    return noop


async def w0(event: dict[str, Any]) -> str:
    return "ok"


async def w1(event: dict[str, Any]) -> int:
    total = 0
    for i in range(event["n"]):
        total += await step(_value(i), name="noop")
    return total


async def w2(event: dict[str, Any]) -> int:
    return await w1({"n": event["n"] + 1})


async def _item(item: int) -> int:
    return await step(_value(item), name="noop")


async def w3(event: dict[str, Any]) -> int:
    result = await map(_item, list(range(event["n"])))
    return sum(result.get_results())


def _branch(i: int) -> Any:
    async def branch() -> int:
        return await step(_value(i), name="noop")

    return branch


async def w4(event: dict[str, Any]) -> int:
    result = await parallel([_branch(i) for i in range(event["n"])])
    return sum(result.get_results())


def _big(i: int) -> Any:
    async def big() -> dict[str, object]:
        return big_object(i)

    return big


async def w5(event: dict[str, Any]) -> int:
    rows = 0
    for i in range(event["n"]):
        rows += len((await step(_big(i), name="big"))["rows"])
    return rows


_WORKFLOWS = {"W0": w0, "W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5}


class CommunityAdapter(Adapter):
    sdk = "community"
    package = "async_durable_execution"
    handler_module_code = (
        "from async_durable_execution import durable_execution\n"
        "@durable_execution\n"
        "async def handler(event):\n"
        "    return 'ok'\n"
    )

    def __init__(self) -> None:
        self._client = _Client()

    def handler(self, workload: str) -> Handler:
        handler: Handler = durable_execution(_WORKFLOWS[workload], boto3_client=self._client)
        return handler

    def bind(self, api: FakeLambdaApi) -> None:
        self._client.api = api


ADAPTER = CommunityAdapter
