"""Change signals of the local backend: who is told when something changed.

Two audiences: the scheduler, woken by :meth:`Changes.kick` to look again, and waiters
outside (tests, the HTTP long-polls), who await :meth:`Changes.wait_for_change` and see
:attr:`Changes.version` move on every saved change.
"""

from __future__ import annotations

import asyncio

from aiodurable.local.errors import BackendClosedError

__all__ = ["Changes"]


class Changes:
    """The backend's version counter, its "something changed" future and the wake-up."""

    def __init__(self) -> None:
        #: Bumped on every change.
        self.version = 0
        #: True when nothing runs and nothing can happen without outside action.
        self.stalled = False
        self.wake = asyncio.Event()
        self._change: asyncio.Future[None] | None = None
        self._open = False

    def open(self) -> None:
        """Start handing out change futures (the backend is running)."""
        self._open = True
        self._change = asyncio.get_running_loop().create_future()

    def close(self) -> None:
        """Release the last waiters; no more futures are handed out."""
        self._open = False
        self.notify()

    def notify(self) -> None:
        """Something changed: bump the version and wake every waiter."""
        self.version += 1
        change, self._change = self._change, None
        if change is not None and not change.done():
            change.set_result(None)
        if self._open:
            self._change = asyncio.get_running_loop().create_future()

    def kick(self) -> None:
        """Make the scheduler look again (after anything changed from outside)."""
        self.stalled = False
        self.wake.set()

    async def wait_for_change(self) -> None:
        """Return after the next change to any execution."""
        if self._change is None:
            raise BackendClosedError("the local backend is not running")
        await asyncio.shield(self._change)
