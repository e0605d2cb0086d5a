"""pytest plugin (entry point ``aiodurable``): the ``local_runner`` fixture.

    async def test_order(local_runner) -> None:
        runner = await local_runner(order_workflow)
        run = await runner.run({"order_id": "o-1"})
        assert run.succeeded

Every runner the fixture made is closed when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from aiodurable.testing.runner import LocalRunner

__all__ = ["local_runner"]

RunnerFactory = Callable[..., Awaitable[LocalRunner[Any]]]


@pytest.fixture
async def local_runner() -> AsyncIterator[RunnerFactory]:
    """A factory: ``await local_runner(handler, **LocalRunner options)``."""
    async with AsyncExitStack() as stack:

        async def make(handler: Any, **options: Any) -> LocalRunner[Any]:
            return await stack.enter_async_context(LocalRunner(handler, **options))

        yield make
