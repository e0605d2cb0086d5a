"""``ctx.create_callback`` and ``ctx.wait_for_callback`` (docs/protocol.md §6.4, §6.5)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Generic, NoReturn, TypeVar

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
from aiodurable.operations.base import DurableOperation, Move, OperationIdentity
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.serdes import AnySerdes, bind_serdes
from aiodurable.wire import CallbackOptions, Operation, OperationAction, OperationStatus

__all__ = ["Callback", "CreateCallback", "callback_timeout_seconds"]

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
        execution: InvocationState,
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

    def result(self) -> Coroutine[Any, Any, T]:
        """The callback's result; raises ``CallbackFailedError`` or ``CallbackTimeoutError``
        (``CallbackHeartbeatTimeoutError`` for a missed heartbeat)."""
        return _CallbackAnswer[T](self._execution, self._identity, self).run()


class CreateCallback(DurableOperation[Callback[Any]]):
    """START a callback (the service gives it an id) and hand it to the workflow."""

    __slots__ = ("heartbeat_timeout_seconds", "serdes", "timeout_seconds")

    #: Whatever its status, a recorded callback is handed over: its answer is awaited
    #: through :meth:`Callback.result`.
    ENDED = tuple(OperationStatus)
    BEGINS = True

    def __init__(
        self,
        execution: InvocationState,
        identity: OperationIdentity,
        timeout_seconds: int,
        heartbeat_timeout_seconds: int,
        serdes: AnySerdes,
    ) -> None:
        super().__init__(execution, identity)
        self.timeout_seconds = timeout_seconds
        self.heartbeat_timeout_seconds = heartbeat_timeout_seconds
        self.serdes = serdes

    async def begin(self) -> Operation | None:
        options = CallbackOptions(
            timeout_seconds=self.timeout_seconds,
            heartbeat_timeout_seconds=self.heartbeat_timeout_seconds,
        )
        await self.execution.checkpointer.checkpoint(
            self.identity.update(OperationAction.START, callback_options=options)
        )
        return self.read()

    async def outcome(self, op: Operation) -> Callback[Any]:
        callback_id = op.callback_details.callback_id if op.callback_details else None
        if not callback_id:
            self._no_callback_id()
        return Callback(self.execution, self.identity, callback_id, self.serdes)

    async def act(self, op: Operation | None) -> Move:
        self._no_callback_id()  # not recorded even after its START

    def _no_callback_id(self) -> NoReturn:
        error = DurableError(
            f"the service returned no CallbackId for callback operation {self.identity.id}"
        )
        self.execution.fail(error)
        raise error


class _CallbackAnswer(DurableOperation[T]):
    """``await callback.result()``: park until the callback was answered or timed out."""

    __slots__ = ("_callback",)

    def __init__(
        self, execution: InvocationState, identity: OperationIdentity, callback: Callback[T]
    ) -> None:
        super().__init__(execution, identity)
        self._callback = callback

    def read(self) -> Operation | None:
        # Checked against the code when the callback was created.
        return self.execution.operations.get(self.identity.id)

    async def outcome(self, op: Operation) -> T:
        status = op.status
        details = op.callback_details
        if status is OperationStatus.SUCCEEDED:
            text = details.result if details else None
            if not text:
                return None  # type: ignore[return-value]  # an empty answer: no value
            try:
                value: T = await self.read_stored(self._callback._serdes, text)
            except SerializationError as exc:
                raise self._bad_answer(text, exc) from exc
            return value
        error = details.error if details else None
        if status is OperationStatus.TIMED_OUT:
            if error is not None and error.error_type == HEARTBEAT_ERROR_TYPE:
                raise CallbackHeartbeatTimeoutError.from_error_object(error)
            raise CallbackTimeoutError.from_error_object(error)
        raise CallbackFailedError.from_error_object(error)  # FAILED, CANCELLED, STOPPED

    def _bad_answer(self, text: str, cause: Exception) -> CallbackResultError:
        callback = self._callback
        name = self.identity.name or self.identity.id
        shown = text if len(text) <= 80 else text[:80] + "…"
        return CallbackResultError(
            f"callback {name!r} (callback id {callback.callback_id}) was answered with "
            f"{shown!r}, which does not decode as {_expected(callback._serdes)}: {cause}. "
            "Catch CallbackResultError to ask again with a new callback, or fix the sender."
        )


def _expected(serdes: AnySerdes) -> str:
    type_ = getattr(serdes, "type_", None)
    if type_ is not None and type_ is not Any:
        return getattr(type_, "__qualname__", None) or repr(type_)
    return type(serdes).__qualname__


def callback_result_serdes(result_type: Any, serdes: AnySerdes | None) -> AnySerdes:
    from aiodurable.serdes import PASSTHROUGH, JsonSerdes

    return bind_serdes(serdes, JsonSerdes(result_type) if result_type is not None else PASSTHROUGH)
