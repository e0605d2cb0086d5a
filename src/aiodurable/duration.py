"""Durations: what every option that takes a length of time accepts.

Seconds (``int`` / ``float``), a ``datetime.timedelta``, or a :class:`Duration` — the
official SDK's value type, with the same constructor and factories, so code ported from
it keeps ``Duration.from_minutes(5)``. Any object with a ``to_seconds()`` method is
accepted too: an instance of the official SDK's own ``Duration`` works unchanged, without
aiodurable importing that SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, TypeAlias, runtime_checkable

from aiodurable.errors import ValidationError

__all__ = ["Duration", "Seconds", "SupportsToSeconds", "to_seconds"]


@runtime_checkable
class SupportsToSeconds(Protocol):
    """A duration object that can say how many seconds it lasts."""

    def to_seconds(self) -> float: ...


#: What an option that takes a length of time accepts.
Seconds: TypeAlias = "float | timedelta | SupportsToSeconds"


@dataclass(frozen=True, slots=True)
class Duration:
    """A length of time in whole seconds, as the official SDK spells it.

    >>> Duration.from_minutes(5).to_seconds()
    300
    """

    seconds: int = 0

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValidationError(f"a Duration cannot be negative, got {self.seconds} seconds")

    def to_seconds(self) -> int:
        """The duration in seconds."""
        return self.seconds

    def to_timedelta(self) -> timedelta:
        """The same duration as a ``timedelta``."""
        return timedelta(seconds=self.seconds)

    @classmethod
    def from_seconds(cls, value: float) -> Duration:
        """``value`` seconds (fractions are dropped)."""
        return cls(seconds=int(value))

    @classmethod
    def from_minutes(cls, value: float) -> Duration:
        """``value`` minutes."""
        return cls(seconds=int(value * 60))

    @classmethod
    def from_hours(cls, value: float) -> Duration:
        """``value`` hours."""
        return cls(seconds=int(value * 3600))

    @classmethod
    def from_days(cls, value: float) -> Duration:
        """``value`` days."""
        return cls(seconds=int(value * 86400))


def to_seconds(value: Seconds, what: str = "a duration") -> float:
    """Seconds of ``value``: a number, a ``timedelta``, or a duration object (``Duration``,
    the official SDK's ``Duration``, anything with ``to_seconds()``)."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    to = getattr(value, "to_seconds", None)
    if callable(to):
        seconds = to()
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            return float(seconds)
    elif isinstance(value, str):
        # Numeric text has always been taken (a delay read from an event or a setting).
        try:
            return float(value)
        except ValueError:
            pass
    raise ValidationError(
        f"{what} must be seconds (int or float), a datetime.timedelta or a Duration, "
        f"got {value!r} ({type(value).__qualname__})"
    )
