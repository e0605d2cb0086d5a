"""The official SDK (``aws-durable-execution-sdk-python``): synchronous workflows.

Its handler wrapper takes a boto3-style Lambda client (``boto3_client=``) and wraps it
in its own ``LambdaClient`` (model conversion included); the fake API is that client.
Step functions receive a ``StepContext``; map and parallel run branches in threads.
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution

from benchmarks.adapters.base import Adapter, Handler
from benchmarks.fake_lambda import FakeLambdaApi
from benchmarks.workloads import big_object

__all__ = ["OfficialAdapter"]


class _Client:
    """A boto3 Lambda client stand-in whose target changes per run."""

    api: FakeLambdaApi

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        return self.api.call(self.api.checkpoint_durable_execution, **kwargs)

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return self.api.call(self.api.get_durable_execution_state, **kwargs)


def _value(i: int) -> Any:
    return lambda _step: i


def w0(event: dict[str, Any], ctx: DurableContext) -> str:
    return "ok"


def w1(event: dict[str, Any], ctx: DurableContext) -> int:
    total = 0
    for i in range(event["n"]):
        total += ctx.step(_value(i), name="noop")
    return total


def w2(event: dict[str, Any], ctx: DurableContext) -> int:
    return w1({"n": event["n"] + 1}, ctx)


def _item(ctx: DurableContext, item: int, index: int, items: Any) -> int:
    return ctx.step(_value(item), name="noop")


def w3(event: dict[str, Any], ctx: DurableContext) -> int:
    result = ctx.map(list(range(event["n"])), _item)
    return sum(result.get_results())


def _branch(i: int) -> Any:
    return lambda ctx: ctx.step(_value(i), name="noop")


def w4(event: dict[str, Any], ctx: DurableContext) -> int:
    result = ctx.parallel([_branch(i) for i in range(event["n"])])
    return sum(result.get_results())


def w5(event: dict[str, Any], ctx: DurableContext) -> int:
    rows = 0
    for i in range(event["n"]):
        rows += len(ctx.step(lambda _step, i=i: big_object(i), name="big")["rows"])
    return rows


_WORKFLOWS = {"W0": w0, "W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5}


class OfficialAdapter(Adapter):
    sdk = "official"
    package = "aws_durable_execution_sdk_python"
    handler_module_code = (
        "from aws_durable_execution_sdk_python import durable_execution\n"
        "@durable_execution\n"
        "def handler(event, ctx):\n"
        "    return 'ok'\n"
    )

    def __init__(self) -> None:
        self._client = _Client()

    def handler(self, workload: str) -> Handler:
        handler: Handler = durable_execution(_WORKFLOWS[workload], boto3_client=self._client)
        return handler

    def bind(self, api: FakeLambdaApi) -> None:
        self._client.api = api


ADAPTER = OfficialAdapter
