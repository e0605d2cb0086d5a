"""The callbacks API: ``SendDurableExecutionCallback{Success,Failure,Heartbeat}``.

A callback id finds its execution and operation; a timer that is due counts first (the
service is never late), then the call completes the callback or restarts its heartbeat
timeout. Listeners hear of every callback that starts (the test runner's responders).
"""

from __future__ import annotations

from collections.abc import Callable

from aiodurable.local.changes import Changes
from aiodurable.local.clock import Clock
from aiodurable.local.errors import (
    CallbackExpiredError,
    InvalidParameterError,
    ResourceNotFoundError,
)
from aiodurable.local.execution import Execution
from aiodurable.local.lifecycle import Lifecycle
from aiodurable.local.registry import Registry
from aiodurable.local.timers import fire_timers
from aiodurable.local.validation import MAX_INVOKE_PAYLOAD_BYTES
from aiodurable.wire import ErrorObject, Operation, OperationStatus

__all__ = ["CallbackApi"]


class CallbackApi:
    """Completes and heartbeats callbacks by id; tells listeners when one starts."""

    def __init__(
        self, registry: Registry, lifecycle: Lifecycle, clock: Clock, changes: Changes
    ) -> None:
        self._registry = registry
        self._lifecycle = lifecycle
        self._clock = clock
        self._changes = changes
        self._listeners: list[Callable[[str, Operation], None]] = []

    def on_started(self, listener: Callable[[str, Operation], None]) -> None:
        """Call ``listener(execution_arn, operation)`` whenever a callback starts."""
        self._listeners.append(listener)

    def started(self, arn: str, op: Operation) -> None:
        """A callback of execution ``arn`` started."""
        for listener in self._listeners:
            listener(arn, op)

    def succeed(self, callback_id: str, result: bytes | str | None) -> None:
        """Complete the callback with ``result``, stored verbatim."""
        if isinstance(result, bytes):
            if len(result) > MAX_INVOKE_PAYLOAD_BYTES:
                raise _too_large()
            try:
                result = result.decode()
            except UnicodeDecodeError as exc:
                raise InvalidParameterError(
                    f"the callback result is not UTF-8 text: {exc}"
                ) from exc
        elif result is not None and len(result.encode()) > MAX_INVOKE_PAYLOAD_BYTES:
            raise _too_large()
        ex, op_id = self._open(callback_id)
        ex.complete_callback(op_id, OperationStatus.SUCCEEDED, self._clock.now(), result=result)
        self._saved(ex)

    def fail(self, callback_id: str, error: ErrorObject | None) -> None:
        """Fail the callback with ``error``."""
        ex, op_id = self._open(callback_id)
        ex.complete_callback(
            op_id, OperationStatus.FAILED, self._clock.now(), error=error or ErrorObject()
        )
        self._saved(ex)

    def heartbeat(self, callback_id: str) -> None:
        """Restart the callback's heartbeat timeout."""
        ex, op_id = self._open(callback_id)
        ex.heartbeat(op_id, self._clock.now())
        self._saved(ex)

    def execution_of(self, callback_id: str) -> str | None:
        """The ARN of the execution a callback id belongs to."""
        entry = self._registry.callback(callback_id)
        return entry[0] if entry else None

    def _saved(self, ex: Execution) -> None:
        self._registry.save(ex)
        self._changes.kick()

    def _open(self, callback_id: str) -> tuple[Execution, str]:
        entry = self._registry.callback(callback_id)
        ex = self._registry.find(entry[0]) if entry is not None else None
        if entry is None or ex is None:
            raise ResourceNotFoundError(f"Callback {callback_id} not found")
        # A timer that is due counts before the call (the service is not late).
        fire_timers(ex, self._clock.now())
        self._lifecycle.settle(ex)
        op = ex.operations[entry[1]]
        if op.status is OperationStatus.TIMED_OUT:
            raise CallbackExpiredError(f"Callback {callback_id} timed out")
        if not ex.running:
            raise ResourceNotFoundError(
                f"Callback {callback_id} not found: its execution ended ({ex.record.status.value})"
            )
        if op.status is not OperationStatus.STARTED:
            raise InvalidParameterError(
                f"Callback {callback_id} was already completed ({op.status.value})"
            )
        return ex, op.id


def _too_large() -> InvalidParameterError:
    return InvalidParameterError(
        f"a callback result must be at most {MAX_INVOKE_PAYLOAD_BYTES} bytes"
    )
