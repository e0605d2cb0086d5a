"""A durable target whose invocations the test drives by hand, speaking the protocol."""

from __future__ import annotations

import asyncio
from typing import Any


class Invocation:
    def __init__(self, event: dict[str, Any], client: Any) -> None:
        self.event = event
        self.client = client
        self.output: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @property
    def arn(self) -> str:
        return str(self.event["DurableExecutionArn"])

    @property
    def token(self) -> str:
        return str(self.event["CheckpointToken"])

    @property
    def operations(self) -> list[dict[str, Any]]:
        return list(self.event["InitialExecutionState"]["Operations"])

    def finish(self, output: Any) -> None:
        self.output.set_result(output)

    def crash(self, error: BaseException) -> None:
        self.output.set_exception(error)


class HeldTarget:
    """Each invocation waits until the test calls ``finish`` (or ``crash``) on it."""

    def __init__(self) -> None:
        self.invocations: asyncio.Queue[Invocation] = asyncio.Queue()

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        invocation = Invocation(event, client)
        await self.invocations.put(invocation)
        return await invocation.output

    async def next(self) -> Invocation:
        return await self.invocations.get()
