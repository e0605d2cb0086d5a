"""pytest plugin (entry point ``aiodurable``): async tests on asyncio, and the
``local_runner`` fixture.

Installing aiodurable registers this plugin. With it, plain ``pytest`` runs an
``async def`` test with no configuration::

    async def test_order(local_runner) -> None:
        runner = await local_runner(order_workflow)
        run = await runner.run({"order_id": "o-1"})
        assert run.succeeded

What it does, and only when pytest-asyncio is not active (its own settings then decide):

- every ``async def`` test is handed to anyio's pytest plugin (anyio is a dependency of
  aiodurable), as if marked ``@pytest.mark.anyio``; async fixtures of those tests run on
  the same event loop;
- anyio's ``anyio_backend`` fixture is replaced by one that is always ``"asyncio"``:
  aiodurable is asyncio-native, and anyio would otherwise run each test once more on trio
  whenever trio is installed (selenium, for one, pulls it in), where a workflow cannot
  run. A project that also tests its own code on trio defines ``anyio_backend`` in its
  ``conftest.py``, which takes precedence.

Every runner the ``local_runner`` fixture made is closed when the test ends.
"""

from __future__ import annotations

import inspect
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


def _pytest_asyncio_active(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("asyncio")


def pytest_configure(config: pytest.Config) -> None:
    if not _pytest_asyncio_active(config):
        from aiodurable.testing import _asyncio_backend

        config.pluginmanager.register(_asyncio_backend, "aiodurable-asyncio-backend")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> None:
    """Hand ``async def`` tests to anyio's runner (through its backend fixture)."""
    if (
        collector.istestfunction(obj, name)
        and inspect.iscoroutinefunction(obj)
        and not _pytest_asyncio_active(collector.config)
    ):
        # The fixture in the test's closure is what anyio's plugin looks for; being
        # there before collection ends also keeps anyio from adding one item per backend.
        pytest.mark.usefixtures("anyio_backend")(obj)
