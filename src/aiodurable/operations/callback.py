"""``ctx.create_callback`` and ``ctx.wait_for_callback`` (docs/protocol.md §6.4, §6.5)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from aiodurable.duration import Seconds, to_seconds
from aiodurable.errors import (
    CallbackFailedError,
    CallbackHeartbeatTimeoutError,
    CallbackResultError,
    CallbackTimeoutError,
    DurableError,
    SerializationError,
    ValidationError,
)
from aiodurable.operations.base import (
    OperationIdentity,
    read_operation,
    read_stored,
    serdes_context_of,
)
from aiodurable.runtime.execution import Execution
from aiodurable.serdes import AnySerdes, bind_serdes
from aiodurable.wire import CallbackOptions, OperationAction, OperationStatus

__all__ = ["Callback", "callback_timeout_seconds", "start_callback"]

T = TypeVar("T")

MAX_CALLBACK_TIMEOUT = 99_999_999
HEARTBEAT_ERROR_TYPE = "Callback.Heartbeat"


def callback_timeout_seconds(value: Seconds | None, what: str) -> int:
    """Whole seconds of a callback timeout; ``None`` or 0 means no timeout."""
    if value is None:
        return 0
    seconds = int(to_seconds(value, f"callback {what}"))
    if seconds < 0 or seconds > MAX_CALLBACK_TIMEOUT:
        raise ValidationError(
            f"callback {what} must be between 1 and {MAX_CALLBACK_TIMEOUT} seconds "
            f"(or None for no timeout), got {value!r}"
        )
    return seconds


class Callback(Generic[T]):
    """A callback created by ``ctx.create_callback``.

    Hand :attr:`callback_id` to the system that will answer (it calls
    ``SendDurableExecutionCallbackSuccess`` / ``…Failure`` / ``…Heartbeat``), then
    ``await callback.result()``. Until the answer arrives the workflow is suspended.
    """

    __slots__ = ("_execution", "_identity", "_serdes", "callback_id")

    def __init__(
        self,
        execution: Execution,
        identity: OperationIdentity,
        callback_id: str,
        serdes: AnySerdes,
    ) -> None:
        self._execution = execution
        self._identity = identity
        self._serdes = serdes
        self.callback_id = callback_id

    @property
    def operation_id(self) -> str:
        """The id of the CALLBACK operation."""
        return self._identity.id

    async def result(self) -> T:
        """The callback's result; raises ``CallbackFailedError`` or ``CallbackTimeoutError``
        (``CallbackHeartbeatTimeoutError`` for a missed heartbeat)."""
        execution = self._execution
        while True:
            op = execution.operations.get(self._identity.id)
            status = op.status if op is not None else None
            details = op.callback_details if op is not None else None
            if status is OperationStatus.SUCCEEDED:
                text = details.result if details else None
                if not text:
                    return None  # type: ignore[return-value]  # an empty answer: no value
                try:
                    value: T = await read_stored(
                        execution, self._serdes, text, serdes_context_of(execution, self._identity)
                    )
                except SerializationError as exc:
                    raise self._bad_answer(text, exc) from exc
                return value
            error = details.error if details else None
            if status is OperationStatus.TIMED_OUT:
                if error is not None and error.error_type == HEARTBEAT_ERROR_TYPE:
                    raise CallbackHeartbeatTimeoutError.from_error_object(error)
                raise CallbackTimeoutError.from_error_object(error)
            if status in (
                OperationStatus.FAILED,
                OperationStatus.CANCELLED,
                OperationStatus.STOPPED,
            ):
                raise CallbackFailedError.from_error_object(error)
            await execution.park(watch=self._identity.id)

    def _bad_answer(self, text: str, cause: Exception) -> CallbackResultError:
        name = self._identity.name or self._identity.id
        shown = text if len(text) <= 80 else text[:80] + "…"
        return CallbackResultError(
            f"callback {name!r} (callback id {self.callback_id}) was answered with "
            f"{shown!r}, which does not decode as {_expected(self._serdes)}: {cause}. "
            "Catch CallbackResultError to ask again with a new callback, or fix the sender."
        )


def _expected(serdes: AnySerdes) -> str:
    type_ = getattr(serdes, "type_", None)
    if type_ is not None and type_ is not Any:
        return getattr(type_, "__qualname__", None) or repr(type_)
    return type(serdes).__qualname__


async def start_callback(
    execution: Execution,
    identity: OperationIdentity,
    timeout_seconds: int,
    heartbeat_timeout_seconds: int,
    serdes: AnySerdes,
) -> Callback[T]:
    op = read_operation(execution, identity)
    if op is None:
        await execution.checkpointer.checkpoint(
            identity.update(
                OperationAction.START,
                callback_options=CallbackOptions(
                    timeout_seconds=timeout_seconds,
                    heartbeat_timeout_seconds=heartbeat_timeout_seconds,
                ),
            )
        )
        op = read_operation(execution, identity)
    callback_id = op.callback_details.callback_id if op and op.callback_details else None
    if not callback_id:
        error = DurableError(
            f"the service returned no CallbackId for callback operation {identity.id}"
        )
        execution.fail(error)
        raise error
    return Callback(execution, identity, callback_id, serdes)


def callback_result_serdes(result_type: Any, serdes: AnySerdes | None) -> AnySerdes:
    from aiodurable.serdes import PASSTHROUGH, JsonSerdes

    return bind_serdes(serdes, JsonSerdes(result_type) if result_type is not None else PASSTHROUGH)
