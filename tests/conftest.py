import inspect

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every async test runs on asyncio through anyio's pytest plugin.
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.anyio)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
