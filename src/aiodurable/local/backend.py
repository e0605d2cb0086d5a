"""The local backend: the durable execution service, in-process and asyncio-native.

:class:`LocalBackend` implements :class:`~aiodurable.service.DurableServiceClient`
(``checkpoint``, ``get_state``) with the service's validation, token chain and state
transitions, keeps the history the service would, and drives executions: it invokes
the registered handler, then invokes it again whenever a wait ends, a retry comes due, a
callback completes or times out, or a chained invoke finishes — one invocation at a time
per execution.

    async with LocalBackend(clock=VirtualClock()) as backend:
        backend.register("orders", order_workflow)
        info = backend.start_execution("orders", '{"order_id": "o-1"}')
        info = await backend.wait_for_completion(info.arn)

The class is a facade over parts with one job each: the :mod:`~aiodurable.local.registry`
(functions, executions, write-through saves), the :mod:`~aiodurable.local.service_side`
(tokens, checkpoints, paging), the :mod:`~aiodurable.local.invoker`, the
:mod:`~aiodurable.local.scheduler`, the :mod:`~aiodurable.local.callbacks` API, the
execution :mod:`~aiodurable.local.lifecycle` (with chained invokes) and
:mod:`~aiodurable.local.recovery` on start. Every task the backend starts lives in its
task group and ends with the ``async with`` block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager
from datetime import datetime, timedelta
from typing import Any

from aiodurable.local.callbacks import CallbackApi
from aiodurable.local.changes import Changes
from aiodurable.local.clock import Clock, RealClock
from aiodurable.local.errors import (
    ExecutionStalledError,
    InvalidParameterError,
    ResourceConflictError,
    ResourceNotFoundError,
)
from aiodurable.local.history import Event
from aiodurable.local.invoker import Invoker
from aiodurable.local.lifecycle import Lifecycle
from aiodurable.local.pausing import Pausing, may_invoke
from aiodurable.local.records import ExecutionInfo, ExecutionStatus, public_status
from aiodurable.local.recovery import recover
from aiodurable.local.registry import DurableTarget, Registry
from aiodurable.local.scheduler import Scheduler, stall_message
from aiodurable.local.service_side import ServiceSide
from aiodurable.local.store import ExecutionQuery, MemoryStore, Store
from aiodurable.local.validation import MAX_DELAY_SECONDS, check_execution_input
from aiodurable.local.workers import Workers
from aiodurable.wire import (
    CheckpointResponse,
    ErrorObject,
    ExecutionState,
    Operation,
    OperationUpdate,
)

__all__ = ["DurableTarget", "LocalBackend"]


class LocalBackend:
    """An in-process durable execution service.

    Args:
        store: where executions are kept (default: a fresh :class:`MemoryStore`).
        clock: :class:`RealClock` (default) or :class:`VirtualClock`.
        functions: function name → durable handler, or plain (async) function as an
            invoke target. More can be added with :meth:`register`.
        max_invocation_attempts: consecutive failed invocations (the handler raised)
            before the execution fails with the last error.
        invocation_retry_delay: seconds between those attempts.
        replay_check: end every invocation after each checkpoint that records progress,
            so that the next invocation replays everything so far — catches
            non-deterministic workflows early.
        first_page_size: operations in the invocation event's first page.
    """

    def __init__(
        self,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        functions: Mapping[str, Any] | None = None,
        region: str = "us-east-1",
        account: str = "123456789012",
        execution_timeout: int = MAX_DELAY_SECONDS,
        max_invocation_attempts: int = 5,
        invocation_retry_delay: float = 1.0,
        max_invalid_pending: int = 3,
        first_page_size: int = 1000,
        replay_check: bool = False,
    ) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.clock: Clock = clock if clock is not None else RealClock()
        self.region = region
        self.account = account
        self.execution_timeout = execution_timeout
        self.max_invocation_attempts = max_invocation_attempts
        self.invocation_retry_delay = invocation_retry_delay
        self.max_invalid_pending = max_invalid_pending
        self.first_page_size = first_page_size
        self.replay_check = replay_check
        self._changes = changes = Changes()
        self._registry = registry = Registry(self.store, changes, region=region, account=account)
        self._workers = workers = Workers(changes.kick)
        self._lifecycle = lifecycle = Lifecycle(
            registry, self.clock, workers, changes, execution_timeout=execution_timeout
        )
        self._callbacks = CallbackApi(registry, lifecycle, self.clock, changes)
        self._service = ServiceSide(
            registry,
            lifecycle,
            self.clock,
            changes,
            self._callbacks.started,
            replay_check=replay_check,
        )
        self._invoker = Invoker(
            registry,
            lifecycle,
            self._service,
            workers,
            self.clock,
            client=self,
            max_invocation_attempts=max_invocation_attempts,
            invocation_retry_delay=invocation_retry_delay,
            max_invalid_pending=max_invalid_pending,
            first_page_size=first_page_size,
        )
        self._pausing = Pausing(registry, self.clock, changes)
        self._scheduler = Scheduler(
            registry, lifecycle, workers, self.clock, changes, self._invoker.launch
        )
        self._stack: AsyncExitStack | None = None
        self._scheduler_task: asyncio.Task[None] | None = None
        for name, target in (functions or {}).items():
            self.register(name, target)

    @property
    def version(self) -> int:
        """Bumped on every change; see :meth:`wait_for_change`."""
        return self._changes.version

    @property
    def stalled(self) -> bool:
        """True when nothing runs and nothing can happen without outside action."""
        return self._changes.stalled

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> LocalBackend:
        async with AsyncExitStack() as stack:
            stack.callback(self.store.close)
            stack.callback(self._changes.close)
            group = await stack.enter_async_context(asyncio.TaskGroup())
            self._changes.open()
            recover(self._registry, self.clock)
            self._workers.open(group)
            self._scheduler_task = self._workers.create_task(
                self._scheduler.run(), name="aiodurable-local-scheduler"
            )
            for ex in list(self._registry.executions.values()):
                if ex.running:
                    self._lifecycle.resume_invokes(ex)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        scheduler, self._scheduler_task = self._scheduler_task, None
        if scheduler is not None:
            scheduler.cancel()
        self._workers.cancel_all()
        await stack.aclose()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as backend work: it counts as activity (virtual time waits for it)
        and is cancelled when the backend closes."""
        return self._workers.spawn(coro, name)

    # -- functions -------------------------------------------------------------------------
    def register(self, function_name: str, target: Any) -> None:
        """Register a durable handler, or a plain (async) function for chained invokes.

        A durable handler runs as its own durable execution; a plain function is called
        once with the decoded payload and its return value becomes the invoke's result.
        """
        self._registry.register(function_name, target)
        self.kick()

    def function_names(self) -> list[str]:
        """Names of the registered functions."""
        return list(self._registry.functions)

    def function_arn(self, function_name: str) -> str:
        """The ARN the backend gives ``function_name``."""
        return self._registry.function_arn(function_name)

    # -- starting and stopping -------------------------------------------------------------
    def start_execution(
        self,
        function_name: str,
        input_payload: str | None = None,
        *,
        name: str | None = None,
        execution_timeout: int | None = None,
        asynchronous: bool = True,
    ) -> ExecutionInfo:
        """Start a durable execution of ``function_name`` with a JSON input text.

        Idempotent by ``name``: starting a name again with the same input returns the
        existing execution (with a different input it raises
        :class:`ExecutionAlreadyStartedError`). The input has Lambda's invoke limit:
        262,144 bytes for an asynchronous (``Event``) invoke, 6 MiB with
        ``asynchronous=False`` (``RequestResponse``); over it, ``RequestTooLargeError``.
        """
        check_execution_input(input_payload, asynchronous=asynchronous)
        ex = self._lifecycle.start(
            function_name, input_payload, name=name, execution_timeout=execution_timeout
        )
        return self._registry.info(ex.record)

    def stop_execution(self, arn: str, error: ErrorObject | None = None) -> datetime:
        """Stop a running execution (``StopDurableExecution``); returns the stop time."""
        ex = self._registry.get(arn)
        if not ex.running:
            raise InvalidParameterError(
                f"execution {arn} already ended with status {ex.record.status.value}"
            )
        now = self.clock.now()
        error = error or ErrorObject(error_message="The execution was stopped")
        self._lifecycle.finish(ex, ExecutionStatus.STOPPED, now, error=error)
        return now

    # -- pausing and deleting --------------------------------------------------------------
    def pause_execution(
        self,
        arn: str,
        *,
        reason: str | None = None,
        execution_timeout_paused: bool = True,
        client_token: str | None = None,
    ) -> None:
        """``PauseDurableExecution``: no invocation starts until :meth:`resume_execution`.

        Waits, retries and callbacks keep completing. If an invocation is running the
        execution is ``PAUSING`` until its next checkpoint (answered without a token, so
        the invocation ends ``PENDING``), then ``PAUSED``. With
        ``execution_timeout_paused`` the execution timeout stops while paused. Raises
        :class:`ResourceConflictError` unless the execution is ``RUNNING``.
        """
        self._pausing.pause(
            arn,
            reason=reason,
            execution_timeout_paused=execution_timeout_paused,
            client_token=client_token,
        )

    def resume_execution(
        self, arn: str, *, reason: str | None = None, client_token: str | None = None
    ) -> None:
        """``ResumeDurableExecution``: invoke again if an invocation is owed.

        A ``PAUSING`` execution just carries on. Raises :class:`ResourceConflictError`
        unless the execution is ``PAUSING`` or ``PAUSED``.
        """
        self._pausing.resume(arn, reason=reason, client_token=client_token)

    def delete_execution(self, arn: str) -> datetime:
        """``DeleteDurableExecution``: remove a finished execution and all it stored.

        Returns the time of the request. Raises :class:`ResourceConflictError` for an
        execution that has not ended (stop it first).
        """
        return self._pausing.delete(arn)

    # -- callbacks -------------------------------------------------------------------------
    def on_callback_started(self, listener: Callable[[str, Operation], None]) -> None:
        """Call ``listener(execution_arn, operation)`` whenever a callback starts."""
        self._callbacks.on_started(listener)

    def send_callback_success(self, callback_id: str, result: bytes | str | None = None) -> None:
        """``SendDurableExecutionCallbackSuccess``: ``result`` is stored verbatim."""
        self._callbacks.succeed(callback_id, result)

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        """``SendDurableExecutionCallbackFailure``."""
        self._callbacks.fail(callback_id, error)

    def send_callback_heartbeat(self, callback_id: str) -> None:
        """``SendDurableExecutionCallbackHeartbeat``: restart the heartbeat timeout."""
        self._callbacks.heartbeat(callback_id)

    def callback_execution(self, callback_id: str) -> str | None:
        """The ARN of the execution a callback id belongs to."""
        return self._callbacks.execution_of(callback_id)

    # -- time ------------------------------------------------------------------------------
    def advance(self, delta: timedelta | float) -> datetime:
        """Move a virtual clock forward; due timers fire at once."""
        if not self.clock.virtual:
            raise TypeError("advance() needs a VirtualClock; this backend runs in real time")
        now = self.clock.advance(delta)
        self._scheduler.fire_due(now)
        self.kick()
        return now

    # -- invocations driven by the caller ---------------------------------------------------
    def begin_invocation(self, arn: str, *, first_page_size: int | None = None) -> dict[str, Any]:
        """Start an invocation of ``arn`` that the caller runs itself; its Lambda event.

        Timers due now fire first; the event carries a fresh token. For tests that drive
        invocations by hand (the scheduler of a backend that is not entered never
        invokes anything): run the handler with this event and ``client=backend``.
        """
        ex = self._registry.get(arn)
        now = self.clock.now()
        self._scheduler.fire_due(now)
        if not ex.running:
            raise InvalidParameterError(
                f"execution {arn} already ended with status {ex.record.status.value}"
            )
        if not may_invoke(ex):
            raise ResourceConflictError(
                f"execution {arn} is {public_status(ex.record).value}: resume it first"
            )
        return self._invoker.begin(ex, now, first_page_size)

    # -- queries ---------------------------------------------------------------------------
    def describe(self, arn: str) -> ExecutionInfo:
        """``GetDurableExecution`` (a finished execution's record is read from the store)."""
        record = self._registry.record(arn)
        if record is None:
            raise ResourceNotFoundError(f"Durable execution {arn} not found")
        return self._registry.info(record)

    def list_executions(
        self, query: ExecutionQuery | None = None, *, marker: str | None = None, limit: int = 100
    ) -> tuple[list[ExecutionInfo], str | None]:
        """One page of executions matching ``query``, read from the store; and the marker
        of the next page (``None`` on the last). ``ListDurableExecutionsByFunction``."""
        if limit < 1:
            raise InvalidParameterError(f"MaxItems must be at least 1, got {limit}")
        try:
            records, next_marker = self.store.list_executions(
                query or ExecutionQuery(), marker=marker, limit=limit
            )
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from exc
        return [self._registry.info(r) for r in records], next_marker

    def executions(
        self, function_name: str | None = None, statuses: Iterable[str] | None = None
    ) -> list[ExecutionInfo]:
        """Every execution in start order, optionally of one function / with given statuses.

        This reads the whole listing from the store; use :meth:`list_executions` for pages.
        """
        query = ExecutionQuery(
            function_name=function_name, statuses=frozenset(statuses) if statuses else None
        )
        infos: list[ExecutionInfo] = []
        marker: str | None = None
        while True:
            page, marker = self.list_executions(query, marker=marker, limit=1000)
            infos += page
            if marker is None:
                return infos

    def stored_function_names(self) -> list[str]:
        """The functions that have executions in the store (registered or not)."""
        return self.store.function_names()

    def operations(self, arn: str) -> list[Operation]:
        """Every operation of the execution, in creation order."""
        return list(self._registry.get(arn).operations.values())

    def operation(self, arn: str, operation_id: str) -> Operation | None:
        """One operation of the execution, or ``None`` if it has no such operation."""
        return self._registry.get(arn).operations.get(operation_id)

    def history(self, arn: str) -> list[Event]:
        """The execution's history events, by ``EventId``."""
        return list(self._registry.get(arn).events)

    def is_invoking(self, arn: str) -> bool:
        """Whether an invocation of the execution is running now."""
        return arn in self._workers.invocations

    # -- waiting ---------------------------------------------------------------------------
    async def wait_for_change(self) -> None:
        """Return after the next change to any execution."""
        await self._changes.wait_for_change()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; it is re-checked after every change."""
        while not predicate():
            await self.wait_for_change()

    async def wait_for_completion(self, arn: str) -> ExecutionInfo:
        """Wait for the execution to end; with a virtual clock, time skips meanwhile.

        Raises :class:`ExecutionStalledError` (virtual time only) when the execution
        waits for something nothing will send, such as a callback nobody completes.
        """
        ex = self._registry.get(arn)
        with self.clock.skipping():
            self.kick()
            await self.wait_until(lambda: not ex.running or self.stalled)
        if ex.running:
            raise ExecutionStalledError(stall_message(ex))
        return self._registry.info(ex.record)

    # -- replay trace (beside the checkpoints: the wire protocol has no field for it) --------
    def replay_trace(self, execution_arn: str) -> Mapping[str, str]:
        """What each operation of the execution was called with (see
        :mod:`aiodurable.runtime.replay_trace`). Saved with the execution in its store:
        new signatures are committed with the checkpoint that records their operations."""
        return self._registry.get(execution_arn).trace

    def record_replay_trace(self, execution_arn: str, entries: Mapping[str, str]) -> None:
        """Save the signatures of operations an invocation created."""
        ex = self._registry.get(execution_arn)
        if entries is not ex.trace.pending:
            ex.trace.pending.update(entries)
        if ex.trace.pending:
            self._registry.save(ex)

    @contextmanager
    def skipping_until(self, reached: Callable[[], bool]) -> Iterator[None]:
        """A block in which idle virtual time skips to due timers until ``reached()``
        holds; from then on the backend stalls instead, so a waiter can act first."""
        holds = self._scheduler.skip_holds
        holds.append(reached)
        try:
            with self.clock.skipping():
                self.kick()
                yield
        finally:
            holds.remove(reached)

    def stall_reason(self, arn: str) -> str:
        """Why the execution cannot progress now, and what would make it."""
        return stall_message(self._registry.get(arn))

    def kick(self) -> None:
        """Make the scheduler look again (after anything changed from outside)."""
        self._changes.kick()

    # -- DurableServiceClient --------------------------------------------------------------
    async def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        *,
        client_token: str | None = None,
    ) -> CheckpointResponse:
        """``CheckpointDurableExecution``: validate, apply, commit, answer with a delta."""
        return self._service.checkpoint(
            execution_arn, checkpoint_token, updates, client_token=client_token
        )

    def checkpoint_now(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        *,
        client_token: str | None = None,
    ) -> CheckpointResponse:
        """:meth:`checkpoint` without awaiting: the whole call is one atomic step."""
        return self._service.checkpoint(
            execution_arn, checkpoint_token, updates, client_token=client_token
        )

    async def get_state(
        self,
        execution_arn: str,
        checkpoint_token: str,
        *,
        marker: str,
        max_items: int = 1000,
    ) -> ExecutionState:
        """``GetDurableExecutionState``: one page of operations; the token is not spent."""
        return self._service.get_state(
            execution_arn, checkpoint_token, marker=marker, max_items=max_items
        )

    def get_state_now(
        self, execution_arn: str, checkpoint_token: str, *, marker: str | None, max_items: int
    ) -> ExecutionState:
        """``get_state`` without awaiting: one page of operations."""
        return self._service.get_state(
            execution_arn, checkpoint_token, marker=marker, max_items=max_items
        )
