"""How one invocation ends: a single state that every piece reports into.

The scheduler reports a suspension, the checkpointer a revoked token or a failure, the
invocation a completed workflow; the output envelope is read from this state alone.

    RUNNING ─► SUSPENDED ─┐
       │                  ├─► FATAL ─► REVOKED ─► CANCELLED
       └─► COMPLETED ─────┘

A later report wins only where the arrow allows it: a checkpoint that fails while the
suspension is being flushed makes the invocation fail, and a revoked token ends any
invocation PENDING, whatever was decided before (the service has moved on without it).
An invocation cancelled from outside (its caller, Ctrl-C) ends without an output at all.
"""

from __future__ import annotations

import asyncio
import enum

__all__ = ["InvocationOutcome", "OutcomeState"]


class OutcomeState(enum.Enum):
    RUNNING = "RUNNING"
    #: Nothing more can progress in this invocation: it returns PENDING.
    SUSPENDED = "SUSPENDED"
    #: The workflow returned or raised: the output carries its result or error.
    COMPLETED = "COMPLETED"
    #: An error that ends the invocation whatever user code does with it.
    FATAL = "FATAL"
    #: The service withheld the checkpoint token: the invocation ends PENDING.
    REVOKED = "REVOKED"
    #: The invocation itself was cancelled by its caller: it raises ``CancelledError``,
    #: and a step body cut short by it is not a step the workflow cancelled.
    CANCELLED = "CANCELLED"


_RANK = {
    OutcomeState.RUNNING: 0,
    OutcomeState.SUSPENDED: 1,
    OutcomeState.COMPLETED: 1,
    OutcomeState.FATAL: 2,
    OutcomeState.REVOKED: 3,
    OutcomeState.CANCELLED: 4,
}


class InvocationOutcome:
    """The state of one invocation, and an event set as soon as it stops running."""

    __slots__ = ("ended", "error", "state")

    def __init__(self) -> None:
        self.state = OutcomeState.RUNNING
        #: The error of a FATAL outcome.
        self.error: BaseException | None = None
        self.ended = asyncio.Event()

    @property
    def running(self) -> bool:
        return self.state is OutcomeState.RUNNING

    def _move(self, state: OutcomeState) -> bool:
        if _RANK[state] <= _RANK[self.state]:
            return False
        self.state = state
        self.ended.set()
        return True

    def suspend(self) -> None:
        self._move(OutcomeState.SUSPENDED)

    def complete(self) -> None:
        self._move(OutcomeState.COMPLETED)

    def fail(self, error: BaseException) -> None:
        if self._move(OutcomeState.FATAL):
            self.error = error

    def revoke(self) -> None:
        self._move(OutcomeState.REVOKED)

    def cancel(self) -> None:
        self._move(OutcomeState.CANCELLED)
