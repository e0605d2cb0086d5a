"""Pausing, resuming and deleting executions (``Pause``/``Resume``/``DeleteDurableExecution``).

A pause is a :class:`~aiodurable.local.records.PauseState` on a running execution; the
record's own status stays ``RUNNING``, so waits, retries, callbacks and chained invokes
keep completing while it is paused. What a pause changes:

* no invocation starts while it is in force (:func:`may_invoke`); an operation that
  completes meanwhile leaves the execution *owing* one (``wants_invocation``), which
  the scheduler starts once the execution is resumed;
* requested while an invocation runs, the execution is ``PAUSING`` until that
  invocation's next checkpoint, which is stored and answered without a checkpoint
  token and without operations (:func:`withhold_checkpoint`): the SDK then ends the
  invocation ``PENDING`` and the execution owes a new one. An invocation that ends
  without checkpointing again also leaves it ``PAUSED`` (:func:`end_pausing`);
* with ``ExecutionTimeoutPaused`` (the default) the execution timeout stops: while
  paused it is parked at the 366-day cap, and resuming moves the old deadline on by
  the time spent paused.

Deleting removes a finished execution and everything stored about it in one store
transaction, so ``DELETING`` is never observed here. Pause and resume are idempotent by
``ClientToken`` for 15 minutes, as the service's are.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from aiodurable.local.changes import Changes
from aiodurable.local.clock import Clock
from aiodurable.local.errors import InvalidParameterError, ResourceConflictError
from aiodurable.local.execution import Execution, event_payload
from aiodurable.local.history import EventType, ExecutionPausedDetails, ExecutionResumedDetails
from aiodurable.local.records import (
    TERMINAL_EXECUTION_STATUSES,
    ClientTokenUse,
    ExecutionStatus,
    PauseState,
    public_status,
)
from aiodurable.local.registry import Registry

__all__ = [
    "MAX_EXECUTION_LIFETIME",
    "Pausing",
    "end_pausing",
    "may_invoke",
    "public_status",
    "withhold_checkpoint",
]

#: An execution with a paused timeout still times out this long after it started.
MAX_EXECUTION_LIFETIME = timedelta(days=366)
#: How long a repeated ``ClientToken`` is answered as the same request.
CLIENT_TOKEN_WINDOW = timedelta(minutes=15)
_MAX_REASON = 1024
_CLIENT_TOKEN = re.compile(r"[\x21-\x7E]{1,64}")


def may_invoke(ex: Execution) -> bool:
    """Whether an invocation of ``ex`` may start now (no pause in force)."""
    return ex.record.pause is None


def _enter_paused(ex: Execution, now: datetime) -> None:
    record = ex.record
    pause = record.pause
    assert pause is not None
    pause.paused_at = now
    if pause.execution_timeout_paused:
        pause.timeout_at_before = record.timeout_at
        record.timeout_at = record.start_timestamp + MAX_EXECUTION_LIFETIME
    ex.emit(
        EventType.EXECUTION_PAUSED,
        now,
        execution_paused_details=ExecutionPausedDetails(
            pause_request_timestamp=pause.requested_at,
            execution_timeout_paused=pause.execution_timeout_paused,
            reason=event_payload(pause.reason) if pause.reason is not None else None,
        ),
    )


def withhold_checkpoint(ex: Execution, now: datetime) -> bool:
    """Whether a checkpoint of running ``ex`` is answered without a token (it is paused).

    A ``PAUSING`` execution becomes ``PAUSED`` here; either way it now owes an
    invocation, since the one that checkpointed will end ``PENDING``.
    """
    pause = ex.record.pause
    if pause is None:
        return False
    if pause.paused_at is None:
        _enter_paused(ex, now)
    ex.record.wants_invocation = True
    return True


def end_pausing(ex: Execution, now: datetime) -> bool:
    """The invocation of ``ex`` ended: a ``PAUSING`` execution is ``PAUSED`` from now.

    Returns whether that changed anything (the caller saves it).
    """
    pause = ex.record.pause
    if not ex.running or pause is None or pause.paused_at is not None:
        return False
    _enter_paused(ex, now)
    return True


class Pausing:
    """The ``PauseDurableExecution``, ``ResumeDurableExecution`` and
    ``DeleteDurableExecution`` calls."""

    def __init__(self, registry: Registry, clock: Clock, changes: Changes) -> None:
        self._registry = registry
        self._clock = clock
        self._changes = changes

    def pause(
        self,
        arn: str,
        *,
        reason: str | None = None,
        execution_timeout_paused: bool = True,
        client_token: str | None = None,
    ) -> None:
        """Pause ``arn``: ``PAUSED`` at once if no invocation runs, else ``PAUSING``."""
        _check_reason(reason)
        ex = self._registry.get(arn)
        now = self._clock.now()
        parameters = json.dumps([reason, execution_timeout_paused])
        if self._repeated(ex, "pause", parameters, client_token, now):
            return
        record = ex.record
        status = public_status(record)
        if status is not ExecutionStatus.RUNNING:
            raise ResourceConflictError(
                f"execution {arn} is {status.value}; only a RUNNING execution can be paused"
                + (" (resume it first)" if record.pause is not None else "")
            )
        record.pause = PauseState(
            requested_at=now, reason=reason, execution_timeout_paused=execution_timeout_paused
        )
        if record.invocation_started is None:
            _enter_paused(ex, now)
        self._remember(ex, "pause", parameters, client_token, now)
        self._registry.save(ex)
        self._changes.kick()

    def resume(
        self, arn: str, *, reason: str | None = None, client_token: str | None = None
    ) -> None:
        """Resume ``arn``; a ``PAUSING`` execution just carries on with its invocation."""
        _check_reason(reason)
        ex = self._registry.get(arn)
        now = self._clock.now()
        parameters = json.dumps([reason])
        if self._repeated(ex, "resume", parameters, client_token, now):
            return
        record = ex.record
        pause = record.pause
        status = public_status(record)
        if pause is None or status not in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED):
            raise ResourceConflictError(
                f"execution {arn} is {status.value}; only a PAUSING or PAUSED execution "
                "can be resumed"
            )
        record.pause = None
        if pause.paused_at is not None:
            if pause.timeout_at_before is not None:
                cap = record.start_timestamp + MAX_EXECUTION_LIFETIME
                extended = pause.timeout_at_before + (now - pause.paused_at)
                record.timeout_at = min(extended, cap)
            ex.emit(
                EventType.EXECUTION_RESUMED,
                now,
                execution_resumed_details=ExecutionResumedDetails(
                    resume_request_timestamp=now,
                    reason=event_payload(reason) if reason is not None else None,
                ),
            )
        self._remember(ex, "resume", parameters, client_token, now)
        self._registry.save(ex)
        self._changes.kick()  # an invocation owed while paused starts now

    def delete(self, arn: str) -> datetime:
        """Delete a finished execution and all it stored; returns the request time."""
        ex = self._registry.get(arn)
        status = public_status(ex.record)
        if status not in TERMINAL_EXECUTION_STATUSES:
            raise ResourceConflictError(
                f"execution {arn} is {status.value}; only a SUCCEEDED, FAILED, STOPPED or "
                "TIMED_OUT execution can be deleted (stop it first)"
            )
        now = self._clock.now()
        self._registry.remove(ex)
        return now

    # -- client tokens ---------------------------------------------------------------------
    def _repeated(
        self, ex: Execution, operation: str, parameters: str, token: str | None, now: datetime
    ) -> bool:
        """Whether ``token`` repeats a request already applied (answer it as done)."""
        if token is None:
            return False
        if not _CLIENT_TOKEN.fullmatch(token):
            raise InvalidParameterError(
                "ClientToken must be 1-64 printable ASCII characters without spaces"
            )
        tokens = ex.record.client_tokens
        for old in [t for t, use in tokens.items() if now - use.at > CLIENT_TOKEN_WINDOW]:
            del tokens[old]
        use = tokens.get(token)
        if use is None:
            return False
        if (use.operation, use.parameters) != (operation, parameters):
            raise InvalidParameterError(
                f"ClientToken {token!r} was used within the last 15 minutes for another "
                f"request ({use.operation} with other parameters); use a new token"
            )
        return True

    def _remember(
        self, ex: Execution, operation: str, parameters: str, token: str | None, now: datetime
    ) -> None:
        if token is not None:
            ex.record.client_tokens[token] = ClientTokenUse(
                operation=operation, parameters=parameters, at=now
            )


def _check_reason(reason: str | None) -> None:
    if reason is not None and len(reason) > _MAX_REASON:
        raise InvalidParameterError(
            f"Reason is {len(reason)} characters; at most {_MAX_REASON} are allowed"
        )
