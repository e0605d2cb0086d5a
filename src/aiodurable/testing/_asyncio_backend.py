"""The ``anyio_backend`` fixture aiodurable's pytest plugin installs: always asyncio.

A module of its own because the plugin registers it in ``pytest_configure``, after every
installed plugin: among plugins the fixture defined last wins, so this one overrides
anyio's, which runs each test once per installed backend (trio too, where a workflow
cannot run). A ``conftest.py`` that defines ``anyio_backend`` still takes precedence.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """The event loop async tests run on: asyncio, whatever else is installed."""
    return "asyncio"
