from collections.abc import AsyncIterator

import pytest

from tests.http_stub import ServiceStub

# Async tests run on asyncio through anyio's pytest plugin (anyio_mode = "auto").


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def stub() -> AsyncIterator[ServiceStub]:
    """A started :class:`ServiceStub` with no service behind it (replies are queued)."""
    server = ServiceStub()
    await server.start()
    yield server
    await server.close()
