"""Retry strategies for steps (docs/protocol.md §6.1)."""

from __future__ import annotations

import enum
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from aiodurable.duration import Seconds, to_seconds

__all__ = ["Jitter", "RetryDecision", "RetryPolicy", "RetryStrategy", "StepSemantics"]


class StepSemantics(enum.Enum):
    """How often a step body may run per retry attempt."""

    #: The START is sent without waiting; a crash before SUCCEED re-runs the attempt.
    AT_LEAST_ONCE_PER_RETRY = "AT_LEAST_ONCE_PER_RETRY"
    #: The START is durable before the body runs; a crash counts as a failed attempt.
    AT_MOST_ONCE_PER_RETRY = "AT_MOST_ONCE_PER_RETRY"


class Jitter(enum.Enum):
    """How much randomness spreads retry delays: none, all of the delay, or half of it."""

    NONE = "NONE"
    FULL = "FULL"
    HALF = "HALF"


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """A retry strategy's answer: retry or not, and after how many seconds."""

    should_retry: bool
    delay_seconds: int = 0

    @classmethod
    def retry(cls, delay: Seconds) -> RetryDecision:
        """Retry after ``delay`` (seconds, a ``timedelta`` or a ``Duration``; at least 1 s)."""
        return cls(True, max(1, math.ceil(to_seconds(delay, "a retry delay"))))

    @classmethod
    def no_retry(cls) -> RetryDecision:
        """Do not retry: the step fails."""
        return cls(False)


def _seconds(value: Seconds) -> float:
    return to_seconds(value, "a retry delay")


def backoff_seconds(
    initial: Seconds,
    rate: float,
    cap: Seconds,
    attempt: int,
    jitter: Jitter,
    rng: random.Random,
) -> int:
    """``min(initial * rate ** (attempt - 1), cap)`` with jitter, in whole seconds (≥ 1).

    Shared by retry strategies and wait-for-condition strategies (docs/protocol.md §6.1, §6.3).
    """
    base = min(_seconds(initial) * rate ** (attempt - 1), _seconds(cap))
    return jittered(base, jitter, rng)


def jittered(base: float, jitter: Jitter, rng: random.Random) -> int:
    """Apply ``jitter`` to ``base`` seconds and round up to whole seconds, at least 1."""
    if jitter is Jitter.FULL:
        delay = rng.random() * base
    elif jitter is Jitter.HALF:
        delay = base / 2 + rng.random() * base / 2
    else:
        delay = base
    return max(1, math.ceil(delay))


@dataclass(frozen=True)
class RetryStrategy:
    """Exponential (or linear) backoff with jitter and an optional error filter.

    ``max_attempts`` counts every execution of the body, the first one included. Delays
    are whole seconds, at least 1. When neither ``retryable_errors`` nor
    ``retryable_messages`` is given every error is retried; otherwise an error is
    retried if it is an instance of one of the types or its message contains one of the
    strings (or matches one of the compiled patterns).

    >>> RetryStrategy(max_attempts=3, initial_delay=2).decide(ValueError(), 1)
    RetryDecision(should_retry=True, delay_seconds=...)
    """

    max_attempts: int = 3
    initial_delay: Seconds = 5
    max_delay: Seconds = 300
    backoff_rate: float = 2.0
    jitter: Jitter = Jitter.FULL
    #: Linear backoff: ``initial + increment * (n - 1)`` instead of the exponential rule.
    increment: float | None = None
    retryable_errors: tuple[type[BaseException], ...] = ()
    retryable_messages: tuple[str | re.Pattern[str], ...] = ()
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        from aiodurable.errors import ValidationError

        if self.max_attempts < 1:
            raise ValidationError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if _seconds(self.initial_delay) < 0 or _seconds(self.max_delay) < 0:
            raise ValidationError("retry delays must not be negative")
        if self.backoff_rate <= 0:
            raise ValidationError(f"backoff_rate must be positive, got {self.backoff_rate}")

    # -- presets -----------------------------------------------------------------------
    @classmethod
    def default(cls) -> RetryStrategy:
        """What a step without a strategy uses: 6 attempts, 5 s doubling to 60 s."""
        return cls(max_attempts=6, initial_delay=5, max_delay=60, backoff_rate=2)

    @classmethod
    def no_retry(cls) -> RetryStrategy:
        """A single attempt: failures are final."""
        return cls(max_attempts=1)

    @classmethod
    def transient(cls) -> RetryStrategy:
        """3 attempts, 5 s doubling, half jitter: for brief glitches."""
        return cls(max_attempts=3, jitter=Jitter.HALF)

    @classmethod
    def resource_availability(cls) -> RetryStrategy:
        """5 attempts, 5 s doubling up to 300 s: for a resource that comes back."""
        return cls(max_attempts=5)

    @classmethod
    def critical(cls) -> RetryStrategy:
        """10 attempts, 1 s growing 1.5x up to 60 s, no jitter."""
        return cls(
            max_attempts=10, initial_delay=1, max_delay=60, backoff_rate=1.5, jitter=Jitter.NONE
        )

    @classmethod
    def linear(
        cls,
        *,
        max_attempts: int = 6,
        initial_delay: float = 1,
        increment: float = 1,
        max_delay: float = 300,
    ) -> RetryStrategy:
        """Delays of 1, 2, 3 … seconds (``initial_delay + increment * (n - 1)``)."""
        return cls(
            max_attempts=max_attempts,
            initial_delay=initial_delay,
            max_delay=max_delay,
            increment=increment,
            jitter=Jitter.NONE,
        )

    @classmethod
    def fixed(cls, interval: Seconds = 5, *, max_attempts: int = 5) -> RetryStrategy:
        """The same delay between every attempt."""
        return cls(
            max_attempts=max_attempts,
            initial_delay=interval,
            max_delay=interval,
            backoff_rate=1,
            jitter=Jitter.NONE,
        )

    # -- decisions ---------------------------------------------------------------------
    def is_retryable(self, error: BaseException) -> bool:
        """Whether ``error`` passes the type and message filters."""
        if not self.retryable_errors and not self.retryable_messages:
            return True
        if self.retryable_errors and isinstance(error, self.retryable_errors):
            return True
        text = str(error)
        for pattern in self.retryable_messages:
            if isinstance(pattern, str):
                if pattern in text:
                    return True
            elif pattern.search(text):
                return True
        return False

    def base_delay(self, attempts_made: int) -> float:
        """The delay before jitter after ``attempts_made`` failed attempts."""
        initial = _seconds(self.initial_delay)
        if self.increment is not None:
            base = initial + self.increment * (attempts_made - 1)
        else:
            base = initial * self.backoff_rate ** (attempts_made - 1)
        return min(base, _seconds(self.max_delay))

    def decide(self, error: BaseException, attempts_made: int) -> RetryDecision:
        """Whether to retry after ``attempts_made`` attempts failed, the last with ``error``."""
        if attempts_made >= self.max_attempts or not self.is_retryable(error):
            return RetryDecision(False)
        return RetryDecision(True, jittered(self.base_delay(attempts_made), self.jitter, self._rng))

    def __call__(self, error: BaseException, attempts_made: int) -> RetryDecision:
        return self.decide(error, attempts_made)


#: Anything that decides retries: a ``RetryStrategy`` or a function of
#: ``(error, attempts_made)``.
RetryPolicy = RetryStrategy | Callable[[BaseException, int], RetryDecision]
