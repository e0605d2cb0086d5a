"""Per-attempt timeouts of steps and wait_for_condition checks (``timeout=``).

The deadline bounds one attempt, measured on the event loop from the moment the body
is called until its result reaches the loop. An attempt past it fails with
:class:`StepTimeoutError` inside the attempt, so the retry strategy (or, for a check,
the operation's failure) handles it like any other error; the workflow's own task is
never cancelled by it (``asyncio.timeout`` cancels the attempt and then un-cancels).

- An async body is cancelled at its current ``await``. If it swallows the cancellation
  and returns anyway, the value is discarded: the attempt still timed out.
- A sync body runs in a worker thread, which Python cannot interrupt. At the deadline
  the attempt stops waiting for it (anyio's ``abandon_on_cancel``): the thread keeps
  running the function until it returns, its result or exception is then dropped by
  anyio (the future it would complete is already cancelled), and the thread goes back
  to anyio's pool. The thread no longer counts against anyio's thread limiter once
  abandoned. Because it is not a daemon thread, a process that exits waits for it.
  A late result can never be recorded: the attempt has already failed, and only the
  attempt's own coroutine checkpoints a result.

The plugins' user-function hooks wrap the bounded call on the loop, so they (and
OpenTelemetry's attempt span) end when the attempt times out, with the timeout error;
nothing is reported when an abandoned thread finishes later.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from aiodurable.duration import Seconds, to_seconds
from aiodurable.errors import StepTimeoutError, ValidationError

__all__ = ["call_with_timeout", "timeout_seconds"]


def timeout_seconds(value: Seconds | None, what: str) -> float | None:
    """``timeout=`` as positive seconds (``None``: no deadline), checked at the call."""
    if value is None:
        return None
    if isinstance(value, str | bool):
        raise ValidationError(
            f"{what}: timeout must be seconds (int or float), a datetime.timedelta or a "
            f"Duration, not {type(value).__name__} {value!r}"
        )
    seconds = to_seconds(value, f"{what}: timeout")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValidationError(
            f"{what}: timeout must be a positive, finite number of seconds (got {value!r}); "
            "pass timeout=None for no deadline"
        )
    return seconds


async def call_with_timeout(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    *,
    is_async: bool,
    seconds: float,
    hooks: AbstractContextManager[None],
    what: str,
) -> Any:
    """Run one attempt ``fn(*args)`` under a deadline of ``seconds``.

    ``what`` names the attempt in the error (``"step 'charge' attempt 2"``).
    """
    deadline = asyncio.timeout(seconds)
    with hooks:
        try:
            async with deadline:
                if is_async:
                    value = await fn(*args)
                else:
                    value = await _in_thread(fn, args)
        except Exception as exc:
            if deadline.expired():
                raise _timed_out(what, seconds, is_async) from exc
            raise
        if deadline.expired():  # the body swallowed its cancellation and returned
            raise _timed_out(what, seconds, is_async)
    return value


async def _in_thread(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    import anyio.to_thread  # only sync step functions need it (cold start)

    result = await anyio.to_thread.run_sync(functools.partial(fn, *args), abandon_on_cancel=True)
    if inspect.isawaitable(result):
        result = await result
    return result


def _timed_out(what: str, seconds: float, is_async: bool) -> StepTimeoutError:
    fate = (
        "it was cancelled"
        if is_async
        else "its worker thread runs on until the function returns, and that result is discarded"
    )
    return StepTimeoutError(f"{what} ran past its timeout of {seconds:g} s; {fate}")
