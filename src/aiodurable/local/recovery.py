"""Recovery on start: load what runs and resume where the last acknowledged change left off.

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
    """Load the stored executions that have not ended into ``registry``, repairing
    interrupted invocations. Finished ones stay in the store until asked for."""
    if clock.virtual:
        latest = registry.store.latest_event_time()
        if latest is not None:
            clock.advance_to(latest)
    now = clock.now()
    for stored in registry.store.load_running():
        ex = Execution(stored.record, stored.operations, stored.events, stored.trace)
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
