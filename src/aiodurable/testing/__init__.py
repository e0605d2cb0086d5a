"""Testing durable workflows: a runner on the local backend, one for deployed functions
(:class:`RemoteRunner`, through the Lambda API), and a pytest plugin.

from aiodurable.testing import LocalRunner

async def test_order() -> None:
    async with LocalRunner(order_workflow) as runner:
        run = await runner.run({"order_id": "o-1"})
        assert run.status == "SUCCEEDED"
"""

from aiodurable.local import ExecutionStalledError
from aiodurable.testing.remote import RemoteRun, RemoteRunner
from aiodurable.testing.runner import (
    CallbackRequest,
    LocalRunner,
    OperationView,
    Run,
    RunResult,
    UnmatchedResponderError,
)

__all__ = [
    "CallbackRequest",
    "ExecutionStalledError",
    "LocalRunner",
    "OperationView",
    "RemoteRun",
    "RemoteRunner",
    "Run",
    "RunResult",
    "UnmatchedResponderError",
]
