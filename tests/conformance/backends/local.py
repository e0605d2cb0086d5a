"""Our in-process local backend (``aiodurable.local``) as a conformance backend."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiodurable import DurableHandler


class LocalBackend:
    name = "local"
    poll_interval = 0.25

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, functions: dict[str, DurableHandler[Any, Any]]
    ) -> AsyncIterator[LocalBackend]:
        from ..suite import BackendUnavailable

        raise BackendUnavailable("aiodurable.local has no in-process service to run on yet")
        yield cls()  # pragma: no cover
