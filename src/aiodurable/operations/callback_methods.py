"""``ctx.create_callback`` and ``ctx.wait_for_callback``: the callback methods of
:class:`~aiodurable.DurableContext`, argument checks and forwarding to their operations."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar, overload

from aiodurable.duration import Seconds
from aiodurable.operations.callback import (
    Callback,
    CreateCallback,
    callback_result_serdes,
    callback_timeout_seconds,
)
from aiodurable.operations.names import check_name, check_sub_type, default_name
from aiodurable.operations.scope import OperationScope
from aiodurable.operations.wait_for_callback import (
    Submitter,
    callback_waiter,
    run_wait_for_callback,
)
from aiodurable.retry import RetryPolicy
from aiodurable.serdes import AnySerdes, AsyncSerdes, Serdes
from aiodurable.wire import OperationType
from aiodurable.wire.callback_names import WAIT_FOR_CALLBACK

__all__ = ["CallbackMethods"]

T = TypeVar("T")


class CallbackMethods(OperationScope):
    """The callback half of a context's API; the context supplies child scopes."""

    __slots__ = ()

    def _child(self, parent_id: str | None, id_prefix: str, replaying: bool) -> Any:
        raise NotImplementedError

    @overload
    def create_callback(
        self,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        result_type: None = ...,
        serdes: None = ...,
        sub_type: str | None = ...,
    ) -> Awaitable[Callback[str]]: ...

    @overload
    def create_callback(
        self,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        result_type: type[T],
        serdes: Serdes[T] | AsyncSerdes[Any] | None = ...,
        sub_type: str | None = ...,
    ) -> Awaitable[Callback[T]]: ...

    @overload
    def create_callback(
        self,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        result_type: None = ...,
        serdes: Serdes[T] | AsyncSerdes[T],
        sub_type: str | None = ...,
    ) -> Awaitable[Callback[T]]: ...

    def create_callback(
        self,
        *,
        name: str | None = None,
        timeout: Seconds | None = None,
        heartbeat_timeout: Seconds | None = None,
        result_type: Any = None,
        serdes: AnySerdes | None = None,
        sub_type: str | None = None,
    ) -> Awaitable[Callback[Any]]:
        """Create a callback an external system completes by its ``callback_id``.

        >>> callback = await ctx.create_callback(name="approval", timeout=3600)  # doctest: +SKIP
        >>> await notify_approver(callback.callback_id)                          # doctest: +SKIP
        >>> decision = await callback.result()                                   # doctest: +SKIP
        """
        timeout_s = callback_timeout_seconds(timeout, "timeout")
        heartbeat_s = callback_timeout_seconds(heartbeat_timeout, "heartbeat_timeout")
        identity = self._identity(
            OperationType.CALLBACK, check_sub_type(sub_type, "Callback"), check_name(name)
        )
        return self._tracked(
            identity,
            CreateCallback(
                self._execution,
                identity,
                timeout_s,
                heartbeat_s,
                callback_result_serdes(result_type, serdes),
            ).run(),
        )

    @overload
    def wait_for_callback(
        self,
        submitter: Submitter,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        retry: RetryPolicy | None = ...,
        result_type: None = ...,
        serdes: None = ...,
    ) -> Awaitable[str]: ...

    @overload
    def wait_for_callback(
        self,
        submitter: Submitter,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        retry: RetryPolicy | None = ...,
        result_type: type[T],
        serdes: Serdes[T] | AsyncSerdes[Any] | None = ...,
    ) -> Awaitable[T]: ...

    @overload
    def wait_for_callback(
        self,
        submitter: Submitter,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        retry: RetryPolicy | None = ...,
        result_type: None = ...,
        serdes: Serdes[T] | AsyncSerdes[T],
    ) -> Awaitable[T]: ...

    def wait_for_callback(
        self,
        submitter: Submitter,
        *,
        name: str | None = None,
        timeout: Seconds | None = None,
        heartbeat_timeout: Seconds | None = None,
        retry: RetryPolicy | None = None,
        result_type: Any = None,
        serdes: AnySerdes | None = None,
    ) -> Awaitable[Any]:
        """Create a callback, hand its id to ``submitter`` (run as a step), and wait for
        the result. Raises the callback's own error, or ``CallbackSubmitterError`` when
        the submitter failed after its retries.

        A submitter declared with two required parameters, the official SDK's
        ``submitter(callback_id, ctx)``, also gets a
        :class:`~aiodurable.operations.wait_for_callback.WaitForCallbackContext`
        (``ctx.logger``, ``ctx.attempt``)."""
        name = check_name(name) if name is not None else default_name(submitter)
        body = callback_waiter(
            submitter, name, timeout, heartbeat_timeout, retry, result_type, serdes
        )
        identity = self._identity(OperationType.CONTEXT, WAIT_FOR_CALLBACK, name)
        op_id = identity.id
        return self._tracked(
            identity,
            run_wait_for_callback(
                self._execution,
                identity,
                body,
                lambda replaying: self._child(op_id, op_id, replaying),
                result_type,
                serdes,
            ),
        )
