"""``ctx.wait``: a durable timer owned by the service (docs/protocol.md §6.2)."""

from __future__ import annotations

import time

from aiodurable.duration import Seconds, to_seconds
from aiodurable.errors import ValidationError
from aiodurable.operations.base import OperationIdentity, read_operation
from aiodurable.runtime.execution import Execution
from aiodurable.wire import OperationAction, OperationStatus, WaitOptions

__all__ = ["run_wait", "wait_seconds"]

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


async def run_wait(execution: Execution, identity: OperationIdentity, seconds: int) -> None:
    op = read_operation(execution, identity)
    if op is None:
        await execution.checkpointer.checkpoint(
            identity.update(OperationAction.START, wait_options=WaitOptions(wait_seconds=seconds))
        )
        op = read_operation(execution, identity)
    not_before = 0.0
    while op is None or op.status is not OperationStatus.SUCCEEDED:
        due = time.time() + seconds
        if op is not None and op.wait_details and op.wait_details.scheduled_end_timestamp:
            due = op.wait_details.scheduled_end_timestamp.timestamp()
        await execution.park(max(due, not_before), watch=identity.id)
        await execution.checkpointer.refresh()
        op = read_operation(execution, identity)
        # The service owns the timer (its clock may differ from ours): if it has not
        # fired, look again a second later, never in a tight loop.
        not_before = time.time() + 1
