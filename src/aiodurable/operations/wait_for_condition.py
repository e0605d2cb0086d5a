"""``ctx.wait_for_condition``: poll a check until a condition holds (docs/protocol.md §6.3)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from aiodurable.duration import Seconds, to_seconds
from aiodurable.errors import WaitForConditionError, error_object_from_exception
from aiodurable.operations.attempt import (
    attempts_made,
    enter_attempt,
    exit_attempt,
    retry_later,
    run_attempt,
    wait_for_retry,
)
from aiodurable.operations.base import (
    OperationIdentity,
    read_operation,
    read_stored,
    serdes_context_of,
)
from aiodurable.retry import Jitter, backoff_seconds
from aiodurable.runtime.execution import Execution
from aiodurable.runtime.signals import FATAL_ERRORS
from aiodurable.serdes import AnySerdes, check_payload_size, to_checkpoint
from aiodurable.wire import OperationAction, OperationStatus

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

__all__ = ["WaitDecision", "WaitStrategy", "run_wait_for_condition"]

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class WaitDecision:
    """A wait strategy's answer: poll again or stop, and after how many seconds."""

    should_continue: bool
    delay_seconds: int = 0

    @classmethod
    def continue_waiting(cls, delay: Seconds) -> WaitDecision:
        """Check again after ``delay`` (seconds, a ``timedelta`` or a ``Duration``)."""
        return cls(True, max(1, math.ceil(to_seconds(delay, "a wait delay"))))

    @classmethod
    def stop_polling(cls) -> WaitDecision:
        """Stop: the condition's current state is the result."""
        return cls(False)


@dataclass(frozen=True)
class WaitStrategy(Generic[S]):
    """Poll while ``should_continue(state)`` is true, backing off between polls.

    Gives up (the operation fails with ``WaitForConditionError``) after
    ``max_attempts`` polls.
    """

    should_continue: Callable[[S], bool]
    max_attempts: int = 60
    initial_delay: Seconds = 5
    max_delay: Seconds = 300
    backoff_rate: float = 1.5
    jitter: Jitter = Jitter.FULL
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __call__(self, state: S, attempt: int) -> WaitDecision:
        if not self.should_continue(state):
            return WaitDecision(False)
        if attempt >= self.max_attempts:
            raise WaitForConditionError(
                f"the condition was still unmet after {attempt} attempts (max_attempts="
                f"{self.max_attempts})"
            )
        delay = backoff_seconds(
            self.initial_delay, self.backoff_rate, self.max_delay, attempt, self.jitter, self._rng
        )
        return WaitDecision(True, delay)


async def run_wait_for_condition(
    execution: Execution,
    identity: OperationIdentity,
    check: Callable[[Any], Any],
    initial_state: Any,
    strategy: Callable[[Any, int], WaitDecision],
    serdes: AnySerdes,
    logger_factory: Callable[..., FilteringBoundLogger],
    attempt_timeout: float | None = None,
) -> Any:
    context = serdes_context_of(execution, identity)
    checkpointer = execution.checkpointer
    op = read_operation(execution, identity)
    while True:
        status = op.status if op is not None else None
        details = op.step_details if op is not None else None
        if status is OperationStatus.SUCCEEDED:
            return await read_stored(
                execution, serdes, details.result if details else None, context
            )
        if status is OperationStatus.FAILED:
            raise WaitForConditionError.from_error_object(details.error if details else None)
        if status is OperationStatus.PENDING:
            assert op is not None
            op = await wait_for_retry(execution, identity, op)
            continue
        if op is None or status is OperationStatus.READY:
            checkpointer.enqueue(identity.update(OperationAction.START))
        if details is not None and details.result:
            state = await read_stored(execution, serdes, details.result, context)
        else:
            _, state = await to_checkpoint(serdes, initial_state, context)
        attempt = attempts_made(op) + 1
        token = enter_attempt(identity, attempt, logger_factory)
        try:
            new_state = await run_attempt(
                execution, identity, check, (state,), attempt, attempt_timeout
            )
            text, state = await to_checkpoint(
                serdes, new_state, msgspec.structs.replace(context, attempt=attempt)
            )
            check_payload_size(
                text, f"the state of wait_for_condition {identity.name or identity.id}"
            )
            decision = strategy(state, attempt)
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            error = error_object_from_exception(exc)
            await checkpointer.checkpoint(identity.update(OperationAction.FAIL, error=error))
            raise WaitForConditionError.from_error_object(error) from exc
        finally:
            exit_attempt(token)
        if not decision.should_continue:
            await checkpointer.checkpoint(identity.update(OperationAction.SUCCEED, payload=text))
            return state
        op = await retry_later(execution, identity, decision.delay_seconds, payload=text)
