import pytest

# Async tests run on asyncio through anyio's pytest plugin (anyio_mode = "auto").


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
