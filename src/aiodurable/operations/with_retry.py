"""``with_retry``: retry a block of durable operations, with a durable wait between
attempts (docs/protocol.md §6.9)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from aiodurable.duration import Seconds
from aiodurable.retry import RetryPolicy, RetryStrategy
from aiodurable.runtime.signals import FATAL_ERRORS
from aiodurable.serdes import Serdes

__all__ = ["with_retry"]

T = TypeVar("T")


class _Context(Protocol):
    """What ``with_retry`` needs of a ``DurableContext`` (defined in a layer above)."""

    def run_in_child_context(
        self,
        fn: Callable[[Any], Awaitable[T]],
        *,
        name: str | None = ...,
        result_type: type[T] | None = ...,
        serdes: Serdes[T] | None = ...,
    ) -> Awaitable[T]: ...

    def wait(self, duration: Seconds, *, name: str | None = ...) -> Awaitable[None]: ...


C = TypeVar("C", bound=_Context)

#: Three attempts in all, as the official SDK's helper makes by default.
_DEFAULT_RETRY = RetryStrategy(max_attempts=3)


async def with_retry(
    ctx: C,
    fn: Callable[[C, int], Awaitable[T]],
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    result_type: type[T] | None = None,
    serdes: Serdes[T] | None = None,
) -> T:
    """Run ``fn(child_ctx, attempt)`` (attempt 1, 2, …) in a child context until it
    returns, retrying the whole block when it raises.

    Unlike ``ctx.step(..., retry=...)``, which retries one function, the block may hold
    any durable operations (steps, waits, callbacks, invokes). After a failed attempt
    ``retry(error, attempt)`` decides (default: 3 attempts with backoff); a retry first
    waits durably for its delay, in a wait named ``"<name>-backoff-<attempt>"``. When no
    retry is left the child context fails and ``ChildContextError`` is raised, its
    ``error_type`` naming the last attempt's error. Suspensions are never retried.

    >>> receipt = await with_retry(ctx, book_and_confirm, name="booking")  # doctest: +SKIP
    """
    policy = retry or _DEFAULT_RETRY
    # A lambda, whose name is no identifier: the child is unnamed unless name= is given.
    return await ctx.run_in_child_context(
        lambda child: _attempts(fn, policy, name, child),
        name=name,
        result_type=result_type,
        serdes=serdes,
    )


async def _attempts(
    fn: Callable[[C, int], Awaitable[T]],
    policy: RetryPolicy,
    name: str | None,
    child: C,
) -> T:
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn(child, attempt)
        except FATAL_ERRORS:
            raise
        except Exception as error:
            decision = policy(error, attempt)
            if not decision.should_retry:
                raise
            wait_name = f"{name}-backoff-{attempt}" if name else None
            await child.wait(max(1, decision.delay_seconds), name=wait_name)
