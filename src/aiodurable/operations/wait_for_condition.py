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
    AttemptOperation,
    attempts_made,
    enter_attempt,
    exit_attempt,
)
from aiodurable.operations.base import PARK, Move, OperationIdentity
from aiodurable.retry import Jitter, backoff_seconds
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.runtime.signals import FATAL_ERRORS
from aiodurable.serdes import AnySerdes, check_payload_size, to_checkpoint
from aiodurable.wire import Operation, OperationAction, OperationStatus

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

__all__ = ["WaitDecision", "WaitForConditionOperation", "WaitStrategy"]

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


class WaitForConditionOperation(AttemptOperation[Any]):
    """One ``ctx.wait_for_condition``: each attempt runs the check on the state the last
    one stored, then the strategy decides: RETRY with the new state, or SUCCEED."""

    __slots__ = ("attempt_timeout", "check", "initial_state", "serdes", "strategy")

    ENDED = (OperationStatus.SUCCEEDED, OperationStatus.FAILED)

    def __init__(
        self,
        execution: InvocationState,
        identity: OperationIdentity,
        check: Callable[[Any], Any],
        initial_state: Any,
        strategy: Callable[[Any, int], WaitDecision],
        serdes: AnySerdes,
        logger_factory: Callable[..., FilteringBoundLogger],
        attempt_timeout: float | None = None,
    ) -> None:
        # The base's fields, assigned here: one call fewer on every step.
        self.execution = execution
        self.identity = identity
        self.logger_factory = logger_factory
        self._retry_due = None
        self.check = check
        self.initial_state = initial_state
        self.strategy = strategy
        self.serdes = serdes
        self.attempt_timeout = attempt_timeout

    async def outcome(self, op: Operation) -> Any:
        details = op.step_details
        if op.status is OperationStatus.SUCCEEDED:
            return await self.read_stored(self.serdes, details.result if details else None)
        raise WaitForConditionError.from_error_object(details.error if details else None)

    async def act(self, op: Operation | None) -> Operation | Move | None:
        status = op.status if op is not None else None
        if status is OperationStatus.PENDING:
            return PARK
        identity = self.identity
        checkpointer = self.execution.checkpointer
        serdes = self.serdes
        if op is None or status is OperationStatus.READY:
            checkpointer.enqueue(identity.update(OperationAction.START))
        details = op.step_details if op is not None else None
        if details is not None and details.result:
            state = await self.read_stored(serdes, details.result)
        else:
            _, state = await to_checkpoint(serdes, self.initial_state, self.serdes_context())
        attempt = attempts_made(op) + 1
        token = enter_attempt(identity, attempt, self.logger_factory)
        try:
            new_state = await self.run_attempt(self.check, (state,), attempt, self.attempt_timeout)
            text, state = await to_checkpoint(
                serdes, new_state, msgspec.structs.replace(self.serdes_context(), attempt=attempt)
            )
            check_payload_size(
                text, f"the state of wait_for_condition {identity.name or identity.id}"
            )
            decision = self.strategy(state, attempt)
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
            return self.finish(state)
        return await self.retry_later(decision.delay_seconds, payload=text)
