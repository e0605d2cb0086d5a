"""``ctx.wait``: a durable timer owned by the service (docs/protocol.md §6.2)."""

from __future__ import annotations

import time

from aiodurable.duration import Seconds, to_seconds
from aiodurable.errors import ValidationError
from aiodurable.operations.base import DurableOperation, OperationIdentity
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.wire import Operation, OperationAction, OperationStatus, WaitOptions

__all__ = ["WaitOperation", "wait_seconds"]

MAX_WAIT_SECONDS = 31_622_400


def wait_seconds(duration: Seconds) -> int:
    """Whole seconds of a wait; below one second is an error (nothing is checkpointed)."""
    seconds = to_seconds(duration, "a durable wait")
    whole = int(seconds)
    if whole < 1:
        raise ValidationError(
            f"a durable wait must last at least 1 second, got {seconds!r}; "
            "for shorter pauses use asyncio.sleep inside a step"
        )
    if whole > MAX_WAIT_SECONDS:
        raise ValidationError(
            f"a durable wait lasts at most {MAX_WAIT_SECONDS} seconds (366 days), got {whole}"
        )
    return whole


class WaitOperation(DurableOperation[None]):
    """A timer the service owns: START with its length, then park until it fired."""

    __slots__ = ("seconds",)

    #: Only a fired timer ends the wait.
    ENDED = (OperationStatus.SUCCEEDED,)
    BEGINS = True

    def __init__(
        self, execution: InvocationState, identity: OperationIdentity, seconds: int
    ) -> None:
        super().__init__(execution, identity)
        self.seconds = seconds

    async def begin(self) -> Operation | None:
        options = WaitOptions(wait_seconds=self.seconds)
        await self.execution.checkpointer.checkpoint(
            self.identity.update(OperationAction.START, wait_options=options)
        )
        return self.read()

    async def outcome(self, op: Operation) -> None:
        return None

    def resume_at(self, op: Operation | None, again: bool) -> float:
        due = time.time() + self.seconds
        if op is not None and op.wait_details and op.wait_details.scheduled_end_timestamp:
            due = op.wait_details.scheduled_end_timestamp.timestamp()
        # The service owns the timer (its clock may differ from ours): if it has not
        # fired, look again a second later, never in a tight loop.
        return max(due, time.time() + 1) if again else due
