"""Recovery on start: load the store and resume where the last acknowledged change left off.

An invocation that was running when the backend stopped was interrupted: it is recorded
as ended with ``Runtime.ExitError`` and the execution is invoked again. Tokens of the
old process are void. Virtual time never runs backwards across a restart.
"""

from __future__ import annotations

from aiodurable.local.clock import Clock
from aiodurable.local.execution import Execution
from aiodurable.local.pausing import end_pausing
from aiodurable.local.registry import Registry
from aiodurable.wire import ErrorObject

__all__ = ["recover"]

_INTERRUPTED = ErrorObject(
    error_type="Runtime.ExitError",
    error_message="the process running this invocation exited before it returned",
)


def recover(registry: Registry, clock: Clock) -> None:
    """Load every stored execution into ``registry``, repairing interrupted invocations."""
    stored_executions = registry.store.load()
    if clock.virtual:
        for stored in stored_executions:
            if stored.events:
                clock.advance_to(stored.events[-1].event_timestamp)
    now = clock.now()
    for stored in stored_executions:
        ex = Execution(stored.record, stored.operations, stored.events)
        registry.add(ex)
        record = ex.record
        if ex.running and record.invocation_started is not None:
            ex.invocation_completed(
                record.invocation_started, now, record.request_id or "", _INTERRUPTED
            )
            record.invocation_started = None
            record.wants_invocation = True
        end_pausing(ex, now)  # PAUSING when the backend stopped: its invocation is over
        record.token = None
        registry.save(ex)
