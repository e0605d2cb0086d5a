"""Clocks of the local backend: real time, or virtual time that jumps to the next timer.

The backend reads time only through a clock. With :class:`VirtualClock` time stands
still while anything runs and, when nothing does, jumps straight to the next due timer
(a wait's end, a retry, a callback timeout), so a 7-day wait passes in milliseconds —
except to a callback's deadline while someone outside can still answer it
(:meth:`VirtualClock.answerable`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "RealClock", "VirtualClock", "truncate_ms"]


def truncate_ms(when: datetime) -> datetime:
    """Drop sub-millisecond precision: the wire carries milliseconds at best."""
    return when.replace(microsecond=when.microsecond - when.microsecond % 1000)


@runtime_checkable
class Clock(Protocol):
    """Where the backend's "now" comes from."""

    #: Virtual clocks may be moved by the backend; real ones are waited for.
    virtual: bool

    def now(self) -> datetime:
        """The current time, timezone-aware UTC, millisecond precision."""
        ...

    @property
    def may_skip(self) -> bool:
        """Whether the backend may jump to the next timer when idle (virtual time only)."""
        ...

    def skipping(self) -> AbstractContextManager[None]:
        """A block during which idle time may jump to due timers (virtual time only)."""
        ...

    @property
    def holds_for_callbacks(self) -> bool:
        """Whether idle time must stop short of callback deadlines (virtual time only)."""
        ...

    def answerable(self) -> AbstractContextManager[None]:
        """A block during which callbacks can be answered from outside (virtual time only)."""
        ...

    def advance(self, delta: timedelta | float) -> datetime:
        """Move time forward by ``delta``; only a virtual clock can."""
        ...

    def advance_to(self, when: datetime) -> datetime:
        """Move time forward to ``when``; only a virtual clock can."""
        ...


class RealClock:
    """Wall-clock time: timers fire when they are due."""

    virtual = False
    may_skip = False
    holds_for_callbacks = False

    def now(self) -> datetime:
        """The wall-clock time (UTC)."""
        return truncate_ms(datetime.now(UTC))

    def skipping(self) -> AbstractContextManager[None]:
        """Nothing to allow: real time is never skipped."""
        return nullcontext()

    def answerable(self) -> AbstractContextManager[None]:
        """Nothing to hold: real time reaches a deadline only when it is due."""
        return nullcontext()

    def advance(self, delta: timedelta | float) -> datetime:
        """Real time cannot be moved."""
        raise TypeError("advance() needs a VirtualClock; this backend runs in real time")

    def advance_to(self, when: datetime) -> datetime:
        """Real time cannot be moved."""
        raise TypeError("advance_to() needs a VirtualClock; this backend runs in real time")


class VirtualClock:
    """Time that moves only when told to.

    ``auto_advance=True`` lets the backend jump to the next timer whenever no invocation
    is running. With ``auto_advance=False`` time skips only inside :meth:`skipping`
    blocks (the test runner opens one while a test awaits a result) or through
    :meth:`advance`, so a test can act on a suspended execution before its timeout.
    """

    virtual = True

    def __init__(self, start: datetime | None = None, *, auto_advance: bool = True) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("VirtualClock(start=...) needs a timezone-aware datetime")
        self._now = truncate_ms(start or datetime.now(UTC))
        self.auto_advance = auto_advance
        self._skippers = 0
        self._answerers = 0

    def now(self) -> datetime:
        """The virtual time (UTC)."""
        return self._now

    @property
    def may_skip(self) -> bool:
        """Whether the backend may jump to the next timer when idle."""
        return self.auto_advance or self._skippers > 0

    @contextmanager
    def skipping(self) -> Iterator[None]:
        """Allow time to jump to due timers for the duration of the block."""
        self._skippers += 1
        try:
            yield
        finally:
            self._skippers -= 1

    @property
    def holds_for_callbacks(self) -> bool:
        """Whether idle time must stop short of callback deadlines (see :meth:`answerable`)."""
        return self._answerers > 0

    @contextmanager
    def answerable(self) -> Iterator[None]:
        """A block during which callbacks can be answered from outside (an HTTP server is
        open): idle time still jumps to waits and retries, but never to or past a
        callback's timeout or heartbeat deadline — a person may answer before it."""
        self._answerers += 1
        try:
            yield
        finally:
            self._answerers -= 1

    def advance(self, delta: timedelta | float) -> datetime:
        """Move time forward by ``delta`` (seconds or a timedelta)."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        if delta < timedelta(0):
            raise ValueError("time cannot go backwards")
        return self.advance_to(self._now + delta)

    def advance_to(self, when: datetime) -> datetime:
        """Move time forward to ``when`` (never backwards)."""
        when = truncate_ms(when)
        if when > self._now:
            self._now = when
        return self._now
