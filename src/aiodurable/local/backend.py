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

Every task the backend starts lives in its task group and ends with the ``async with``
block. State is held in memory and written through to the store before any change is
acknowledged (see :mod:`aiodurable.local.store`).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import re
import secrets
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import msgspec

from aiodurable.errors import CheckpointError, InvocationExitError, error_object_from_exception
from aiodurable.local.clock import Clock, RealClock, VirtualClock
from aiodurable.local.encoding import to_event_json
from aiodurable.local.errors import (
    BackendClosedError,
    CallbackTimedOutError,
    ExecutionAlreadyStartedError,
    ExecutionStalledError,
    InvalidParameterError,
    ResourceNotFoundError,
    stale_token,
)
from aiodurable.local.execution import ExecutionState
from aiodurable.local.history import Event
from aiodurable.local.records import (
    ExecutionInfo,
    ExecutionRecord,
    ExecutionStatus,
    InvokeLink,
)
from aiodurable.local.store import MemoryStore, Store
from aiodurable.local.validation import (
    MAX_DELAY_SECONDS,
    MAX_INVOKE_PAYLOAD_BYTES,
    parse_count,
    parse_function_name,
    validate_updates,
)
from aiodurable.serdes import encode_json
from aiodurable.wire import (
    CheckpointResponse,
    ErrorObject,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)
from aiodurable.wire import (
    ExecutionState as StatePage,
)

__all__ = ["DurableTarget", "LocalBackend"]

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_MAX_PAGE_BYTES = 5 * 1024 * 1024
_INTERRUPTED = ErrorObject(
    error_type="Runtime.ExitError",
    error_message="the process running this invocation exited before it returned",
)
_CHILD_TOO_LARGE = ErrorObject(
    error_type="InvalidParameterValueException",
    error_message=(
        f"Execution output payload size must be less than or equal to "
        f"{MAX_INVOKE_PAYLOAD_BYTES} bytes."
    ),
)
_CHILD_END_STATUS = {
    ExecutionStatus.SUCCEEDED: OperationStatus.SUCCEEDED,
    ExecutionStatus.FAILED: OperationStatus.FAILED,
    ExecutionStatus.TIMED_OUT: OperationStatus.TIMED_OUT,
    ExecutionStatus.STOPPED: OperationStatus.STOPPED,
}
_CHILD_TIMEOUT = ErrorObject(
    error_type="ChainedInvoke.Timeout", error_message="The invoked execution timed out"
)


class DurableTarget(Protocol):
    """What the backend invokes: a :class:`~aiodurable.DurableHandler` or alike."""

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        """Handle one invocation envelope, checkpointing through ``client``."""
        ...


@dataclass(frozen=True)
class _Function:
    name: str
    target: Any
    durable: bool


def _is_durable(target: Any) -> bool:
    run = getattr(target, "run", None)
    return run is not None and inspect.iscoroutinefunction(run)


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
        self._functions: dict[str, _Function] = {}
        self._executions: dict[str, ExecutionState] = {}
        self._by_name: dict[tuple[str, str], str] = {}
        self._callbacks: dict[str, tuple[str, str]] = {}
        self._invocations: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._revoked: set[str] = set()
        self._client_tokens: dict[str, tuple[str, str, CheckpointResponse]] = {}
        self._callback_listeners: list[Callable[[str, Operation], None]] = []
        self._group: asyncio.TaskGroup | None = None
        self._open = False
        self._scheduler: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._change: asyncio.Future[None] | None = None
        #: Bumped on every change; see :meth:`wait_for_change`.
        self.version = 0
        #: True when nothing runs and nothing can happen without outside action.
        self.stalled = False
        for name, target in (functions or {}).items():
            self.register(name, target)

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> LocalBackend:
        self._open = True
        self._change = asyncio.get_running_loop().create_future()
        self._load()
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group = group
        self._scheduler = group.create_task(self._schedule(), name="aiodurable-local-scheduler")
        for ex in list(self._executions.values()):
            if ex.running:
                self._resume_invokes(ex)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        self._open = False
        for task in [self._scheduler, *self._invocations.values(), *self._tasks]:
            if task is not None:
                task.cancel()
        try:
            await group.__aexit__(None, None, None)
        finally:
            self._scheduler = None
            self._notify()
            self.store.close()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as backend work: it counts as activity (virtual time waits for it)
        and is cancelled when the backend closes."""
        if self._group is None:
            coro.close()
            raise BackendClosedError(
                "the local backend is not running; use it inside 'async with LocalBackend()'"
            )
        task = self._group.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self.kick()

    # -- functions -------------------------------------------------------------------------
    def register(self, function_name: str, target: Any) -> None:
        """Register a durable handler, or a plain (async) function for chained invokes.

        A durable handler runs as its own durable execution; a plain function is called
        once with the decoded payload and its return value becomes the invoke's result.
        """
        if not _NAME.fullmatch(function_name):
            raise ValueError(
                f"function name {function_name!r} must be 1-64 characters of [a-zA-Z0-9_-]"
            )
        self._functions[function_name] = _Function(function_name, target, _is_durable(target))
        self.kick()

    def function_names(self) -> list[str]:
        """Names of the registered functions."""
        return list(self._functions)

    def function_arn(self, function_name: str) -> str:
        """The ARN the backend gives ``function_name``."""
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{function_name}"

    # -- starting and stopping -------------------------------------------------------------
    def start_execution(
        self,
        function_name: str,
        input_payload: str | None = None,
        *,
        name: str | None = None,
        execution_timeout: int | None = None,
    ) -> ExecutionInfo:
        """Start a durable execution of ``function_name`` with a JSON input text.

        Idempotent by ``name``: starting a name again with the same input returns the
        existing execution (with a different input it raises
        :class:`ExecutionAlreadyStartedError`).
        """
        function = self._functions.get(function_name)
        if function is None or not function.durable:
            raise ResourceNotFoundError(
                f"Function not found: {self.function_arn(function_name)}. Register a durable "
                "handler for it with backend.register(name, handler)"
            )
        name = name or uuid.uuid4().hex
        if not _NAME.fullmatch(name):
            raise InvalidParameterError(
                f"execution name {name!r} must be 1-64 characters of [a-zA-Z0-9_-]"
            )
        existing = self._by_name.get((function_name, name))
        if existing is not None:
            ex = self._executions[existing]
            if ex.record.input_payload != input_payload:
                raise ExecutionAlreadyStartedError(
                    f"an execution named {name!r} of {function_name} already exists with a "
                    "different input; choose another name"
                )
            return self._info(ex)
        arn = self._new_arn(function_name, name)
        ex = self._create(arn, function_name, name, input_payload, execution_timeout)
        return self._info(ex)

    def _new_arn(self, function_name: str, name: str) -> str:
        return (
            f"{self.function_arn(function_name)}:$LATEST/durable-execution/{name}/"
            f"{uuid.uuid4().hex}"
        )

    def _create(
        self,
        arn: str,
        function_name: str,
        name: str,
        input_payload: str | None,
        execution_timeout: int | None = None,
        parent: tuple[str, str] | None = None,
    ) -> ExecutionState:
        now = self.clock.now()
        timeout = execution_timeout or self.execution_timeout
        record = ExecutionRecord(
            arn=arn,
            function_name=function_name,
            name=name,
            input_payload=input_payload,
            start_timestamp=now,
            execution_timeout=timeout,
            timeout_at=now + timedelta(seconds=timeout),
            parent_arn=parent[0] if parent else None,
            parent_operation_id=parent[1] if parent else None,
        )
        ex = ExecutionState(record)
        ex.start(now)
        self._executions[arn] = ex
        self._by_name[(function_name, name)] = arn
        self._save(ex)
        self.kick()
        return ex

    def stop_execution(self, arn: str, error: ErrorObject | None = None) -> datetime:
        """Stop a running execution (``StopDurableExecution``); returns the stop time."""
        ex = self._get(arn)
        if not ex.running:
            raise InvalidParameterError(
                f"execution {arn} already ended with status {ex.record.status.value}"
            )
        now = self.clock.now()
        self._finish(
            ex,
            ExecutionStatus.STOPPED,
            now,
            error=error or ErrorObject(error_message="The execution was stopped"),
        )
        return now

    # -- callbacks -------------------------------------------------------------------------
    def on_callback_started(self, listener: Callable[[str, Operation], None]) -> None:
        """Call ``listener(execution_arn, operation)`` whenever a callback starts."""
        self._callback_listeners.append(listener)

    def send_callback_success(self, callback_id: str, result: bytes | str | None = None) -> None:
        """``SendDurableExecutionCallbackSuccess``: ``result`` is stored verbatim."""
        if isinstance(result, bytes):
            if len(result) > MAX_INVOKE_PAYLOAD_BYTES:
                raise InvalidParameterError(
                    f"a callback result must be at most {MAX_INVOKE_PAYLOAD_BYTES} bytes"
                )
            try:
                result = result.decode()
            except UnicodeDecodeError as exc:
                raise InvalidParameterError(
                    f"the callback result is not UTF-8 text: {exc}"
                ) from exc
        elif result is not None and len(result.encode()) > MAX_INVOKE_PAYLOAD_BYTES:
            raise InvalidParameterError(
                f"a callback result must be at most {MAX_INVOKE_PAYLOAD_BYTES} bytes"
            )
        ex, op_id = self._open_callback(callback_id)
        ex.complete_callback(op_id, OperationStatus.SUCCEEDED, self.clock.now(), result=result)
        self._save(ex)
        self.kick()

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        """``SendDurableExecutionCallbackFailure``."""
        ex, op_id = self._open_callback(callback_id)
        ex.complete_callback(
            op_id, OperationStatus.FAILED, self.clock.now(), error=error or ErrorObject()
        )
        self._save(ex)
        self.kick()

    def send_callback_heartbeat(self, callback_id: str) -> None:
        """``SendDurableExecutionCallbackHeartbeat``: restart the heartbeat timeout."""
        ex, op_id = self._open_callback(callback_id)
        ex.heartbeat(op_id, self.clock.now())
        self._save(ex)
        self.kick()

    def _open_callback(self, callback_id: str) -> tuple[ExecutionState, str]:
        entry = self._callbacks.get(callback_id)
        if entry is None:
            raise ResourceNotFoundError(f"Callback {callback_id} not found")
        ex = self._executions[entry[0]]
        # A timer that is due counts before the call (the service is not late).
        ex.fire_timers(self.clock.now())
        self._after_timers(ex)
        op = ex.operations[entry[1]]
        if op.status is OperationStatus.TIMED_OUT:
            raise CallbackTimedOutError(f"Callback {callback_id} timed out")
        if not ex.running:
            raise ResourceNotFoundError(
                f"Callback {callback_id} not found: its execution ended ({ex.record.status.value})"
            )
        if op.status is not OperationStatus.STARTED:
            raise InvalidParameterError(
                f"Callback {callback_id} was already completed ({op.status.value})"
            )
        return ex, op.id

    # -- time ------------------------------------------------------------------------------
    def advance(self, delta: timedelta | float) -> datetime:
        """Move a virtual clock forward; due timers fire at once."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("advance() needs a VirtualClock; this backend runs in real time")
        now = self.clock.advance(delta)
        self.kick()
        return now

    # -- queries ---------------------------------------------------------------------------
    def _get(self, arn: str) -> ExecutionState:
        ex = self._executions.get(arn)
        if ex is None:
            raise ResourceNotFoundError(f"Durable execution {arn} not found")
        return ex

    def _info(self, ex: ExecutionState) -> ExecutionInfo:
        r = ex.record
        return ExecutionInfo(
            arn=r.arn,
            name=r.name,
            function_name=r.function_name,
            function_arn=self.function_arn(r.function_name),
            status=r.status,
            start_timestamp=r.start_timestamp,
            end_timestamp=r.end_timestamp,
            input_payload=r.input_payload,
            result=r.result,
            error=r.error,
            parent_arn=r.parent_arn,
        )

    def describe(self, arn: str) -> ExecutionInfo:
        """``GetDurableExecution``."""
        return self._info(self._get(arn))

    def executions(
        self, function_name: str | None = None, statuses: Iterable[str] | None = None
    ) -> list[ExecutionInfo]:
        """Executions in start order, optionally of one function / with given statuses."""
        wanted = set(statuses) if statuses else None
        return [
            self._info(ex)
            for ex in self._executions.values()
            if (function_name is None or ex.record.function_name == function_name)
            and (wanted is None or ex.record.status.value in wanted)
        ]

    def operations(self, arn: str) -> list[Operation]:
        """Every operation of the execution, in creation order."""
        return list(self._get(arn).operations.values())

    def history(self, arn: str) -> list[Event]:
        """The execution's history events, by ``EventId``."""
        return list(self._get(arn).events)

    def is_invoking(self, arn: str) -> bool:
        """Whether an invocation of the execution is running now."""
        return arn in self._invocations

    def callback_execution(self, callback_id: str) -> str | None:
        """The ARN of the execution a callback id belongs to."""
        entry = self._callbacks.get(callback_id)
        return entry[0] if entry else None

    # -- waiting ---------------------------------------------------------------------------
    def _notify(self) -> None:
        self.version += 1
        change, self._change = self._change, None
        if change is not None and not change.done():
            change.set_result(None)
        if self._open:
            self._change = asyncio.get_running_loop().create_future()

    async def wait_for_change(self) -> None:
        """Return after the next change to any execution."""
        if self._change is None:
            raise BackendClosedError("the local backend is not running")
        await asyncio.shield(self._change)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; it is re-checked after every change."""
        while not predicate():
            await self.wait_for_change()

    async def wait_for_completion(self, arn: str) -> ExecutionInfo:
        """Wait for the execution to end; with a virtual clock, time skips meanwhile.

        Raises :class:`ExecutionStalledError` (virtual time only) when the execution
        waits for something nothing will send, such as a callback nobody completes.
        """
        ex = self._get(arn)
        skip = self.clock.skipping() if isinstance(self.clock, VirtualClock) else None
        if skip is not None:
            skip.__enter__()
        try:
            self.kick()
            await self.wait_until(lambda: not ex.running or self.stalled)
        finally:
            if skip is not None:
                skip.__exit__(None, None, None)
        if ex.running:
            raise ExecutionStalledError(self._stall_message(ex))
        return self._info(ex)

    def _stall_message(self, ex: ExecutionState) -> str:
        waiting = ex.waiting_on()
        what = ", ".join(
            f"{op.type.value.lower()} {op.name or op.id}"
            + (
                f" (callback id {op.callback_details.callback_id})"
                if op.callback_details and op.callback_details.callback_id
                else ""
            )
            for op in waiting
        )
        if not what:
            what = "nothing the backend can complete"
        return (
            f"execution {ex.arn} cannot progress: it waits for {what}. Complete its "
            "callbacks (send_callback_success / runner.complete_callback), register a "
            "callback responder, register the invoked function, or advance time explicitly."
        )

    def kick(self) -> None:
        """Make the scheduler look again (after anything changed from outside)."""
        self.stalled = False
        self._wake.set()

    # -- the scheduler ---------------------------------------------------------------------
    async def _schedule(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock.now()
            for ex in list(self._executions.values()):
                if ex.running:
                    ex.fire_timers(now)
                    self._after_timers(ex)
            for ex in list(self._executions.values()):
                record = ex.record
                if (
                    ex.running
                    and record.wants_invocation
                    and ex.arn not in self._invocations
                    and (record.invoke_not_before is None or record.invoke_not_before <= now)
                    and record.function_name in self._functions
                ):
                    self._launch(ex, now)
            busy = bool(self._invocations or self._tasks)
            upcoming = [
                t
                for ex in self._executions.values()
                if (t := ex.next_timer(include_timeout=False)) is not None and t > now
            ]
            next_due = min(upcoming, default=None)
            clock = self.clock
            if isinstance(clock, VirtualClock):
                if not busy and clock.may_skip and next_due is not None:
                    clock.advance_to(next_due)
                    continue
                self.stalled = not busy
                self._notify()
                await self._wake.wait()
                continue
            self.stalled = False
            self._notify()
            deadlines = [
                t
                for ex in self._executions.values()
                if (t := ex.next_timer(include_timeout=True)) is not None and t > now
            ]
            if deadlines:
                delay = (min(deadlines) - now).total_seconds()
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            else:
                await self._wake.wait()

    def _after_timers(self, ex: ExecutionState) -> None:
        ops, events = ex.take_changes()
        if ops or events:
            self._save(ex, ops, events)
            if not ex.running:
                self._after_finish(ex)

    # -- invocations -----------------------------------------------------------------------
    def _new_token(self, record: ExecutionRecord) -> str:
        record.token_seq += 1
        raw = f"{record.arn}\n{record.token_seq}\n{secrets.token_hex(8)}"
        record.token = base64.b64encode(raw.encode()).decode()
        return record.token

    def _launch(self, ex: ExecutionState, now: datetime) -> None:
        record = ex.record
        record.wants_invocation = False
        record.invoke_not_before = None
        record.invocations += 1
        record.invocation_started = now
        record.request_id = str(uuid.uuid4())
        token = self._new_token(record)
        updated, record.updated_ids = record.updated_ids, []
        record.delta_ids = []
        operations = list(ex.operations.values())
        page, marker = self._page(operations, 0, self.first_page_size)
        state: dict[str, Any] = {"Operations": to_event_json(page)}
        if marker:
            state["NextMarker"] = marker
        event = {
            "DurableExecutionArn": ex.arn,
            "CheckpointToken": token,
            "InitialExecutionState": state,
            "UpdatedOperationIds": updated,
        }
        self._save(ex)
        assert self._group is not None
        self._invocations[ex.arn] = self._group.create_task(
            self._invoke(ex, event, now), name=f"aiodurable-invocation {ex.arn}"
        )

    async def _invoke(self, ex: ExecutionState, event: dict[str, Any], started: datetime) -> None:
        function = self._functions[ex.record.function_name]
        output: Any = None
        error: BaseException | None = None
        try:
            output = await function.target.run(event, client=self)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # SystemExit too: the sandbox's process exited
            error = exc
        finally:
            self._invocations.pop(ex.arn, None)
            self.kick()
        self._end_invocation(ex, started, output, error)

    def _end_invocation(
        self, ex: ExecutionState, started: datetime, output: Any, error: BaseException | None
    ) -> None:
        now = self.clock.now()
        record = ex.record
        request_id = record.request_id or ""
        record.invocation_started = None
        record.token = None
        revoked = ex.arn in self._revoked
        self._revoked.discard(ex.arn)
        self._client_tokens.pop(ex.arn, None)
        error_object = _invocation_error(error) if error is not None else None
        ex.invocation_completed(started, now, request_id, error_object)
        if not ex.running:
            self._save(ex)  # completed by a checkpoint, stopped or timed out meanwhile
            return
        if error_object is not None:
            record.failed_invocations += 1
            if record.failed_invocations >= self.max_invocation_attempts:
                self._finish(ex, ExecutionStatus.FAILED, now, error=error_object)
                return
            record.wants_invocation = True
            record.invoke_not_before = now + timedelta(seconds=self.invocation_retry_delay)
            self._save(ex)
            return
        record.failed_invocations = 0
        parsed, problem = _parse_output(output)
        if parsed is None:
            self._finish(
                ex,
                ExecutionStatus.FAILED,
                now,
                error=ErrorObject(
                    error_type="InvalidParameterValueException", error_message=problem
                ),
            )
        elif parsed.status is InvocationStatus.SUCCEEDED:
            self._finish(ex, ExecutionStatus.SUCCEEDED, now, result=parsed.result)
        elif parsed.status is InvocationStatus.FAILED:
            self._finish(ex, ExecutionStatus.FAILED, now, error=parsed.error or ErrorObject())
        elif revoked or record.updated_ids or ex.has_pending_work():
            record.invalid_pendings = 0
            if revoked or record.updated_ids:
                record.wants_invocation = True
            self._save(ex)
        else:
            record.invalid_pendings += 1
            if record.invalid_pendings >= self.max_invalid_pending:
                self._finish(
                    ex,
                    ExecutionStatus.FAILED,
                    now,
                    error=ErrorObject(
                        error_type="InvalidParameterValueException",
                        error_message=(
                            "the function returned PENDING although no operation is pending"
                        ),
                    ),
                )
            else:
                record.wants_invocation = True
                self._save(ex)

    def _finish(
        self,
        ex: ExecutionState,
        status: ExecutionStatus,
        now: datetime,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> None:
        ex.finish(status, now, result=result, error=error)
        self._save(ex)
        self._after_finish(ex)

    def _after_finish(self, ex: ExecutionState) -> None:
        """Report a finished chained-invoke target to the execution that invoked it."""
        record = ex.record
        parent = self._executions.get(record.parent_arn or "")
        if parent is None or record.parent_operation_id is None:
            return
        status = _CHILD_END_STATUS[record.status]
        result, error = record.result, record.error
        if status is OperationStatus.TIMED_OUT:
            error = _CHILD_TIMEOUT
        if result is not None and len(result.encode()) > MAX_INVOKE_PAYLOAD_BYTES:
            status, result, error = OperationStatus.FAILED, None, _CHILD_TOO_LARGE
        if parent.complete_invoke(
            record.parent_operation_id, status, self.clock.now(), result=result, error=error
        ):
            self._save(parent)
            self.kick()

    def _save(
        self,
        ex: ExecutionState,
        ops: list[Operation] | None = None,
        events: list[Event] | None = None,
    ) -> None:
        if ops is None or events is None:
            more_ops, more_events = ex.take_changes()
            ops = (ops or []) + more_ops
            events = (events or []) + more_events
        self.store.save(ex.record, ops, events)
        self._notify()

    # -- chained invokes -------------------------------------------------------------------
    def _resume_invokes(self, ex: ExecutionState) -> None:
        """After a restart: dispatch again what was in flight when the backend stopped."""
        for op_id, link in list(ex.record.invokes.items()):
            if link.child_arn is None:
                self._call_plain(ex, op_id, link)
            elif link.child_arn not in self._executions:
                self._start_child(ex, op_id, link)

    def _start_child(self, ex: ExecutionState, op_id: str, link: InvokeLink) -> None:
        assert link.child_arn is not None
        name = link.child_arn.split("/")[-2]
        self._create(link.child_arn, link.function_name, name, link.payload, parent=(ex.arn, op_id))

    def _call_plain(self, ex: ExecutionState, op_id: str, link: InvokeLink) -> None:
        function = self._functions.get(link.function_name)

        async def call() -> None:
            result: str | None = None
            error: ErrorObject | None = None
            try:
                if function is None:
                    raise LookupError(f"function {link.function_name} is not registered")
                argument = json.loads(link.payload) if link.payload else None
                value = function.target(argument)
                if inspect.isawaitable(value):
                    value = await value
                result = encode_json(value)
            except Exception as exc:
                error = error_object_from_exception(exc)
            target = self._executions[ex.arn]
            status = OperationStatus.SUCCEEDED if error is None else OperationStatus.FAILED
            if target.complete_invoke(op_id, status, self.clock.now(), result=result, error=error):
                self._save(target)

        self.spawn(call(), name=f"aiodurable-invoke {link.function_name}")

    # -- DurableServiceClient --------------------------------------------------------------
    def _check_token(self, ex: ExecutionState, token: str, operation: str) -> None:
        record = ex.record
        if record.token is not None and token == record.token:
            return
        try:
            owner = base64.b64decode(token, validate=True).decode().split("\n", 1)[0]
        except (ValueError, UnicodeDecodeError):
            owner = None
        if owner is not None and owner != ex.arn and owner in self._executions:
            reason = f"the token belongs to execution {owner}, not {ex.arn}"
        elif not ex.running:
            reason = f"execution {ex.arn} has ended ({record.status.value})"
        elif record.token is None:
            reason = "no invocation of this execution is running; the token's invocation ended"
        else:
            reason = (
                "the token was already used or belongs to an earlier invocation; send the "
                "token returned by the last CheckpointDurableExecution response"
            )
        raise stale_token(reason, ex.arn, operation=operation)

    def _lookup(self, arn: str, operation: str) -> ExecutionState:
        ex = self._executions.get(arn)
        if ex is None:
            raise CheckpointError(
                f"Durable execution {arn} not found",
                retryable=False,
                operation=operation,
                execution_arn=arn,
                error_code=ResourceNotFoundError.code,
                status_code=ResourceNotFoundError.status_code,
            )
        return ex

    async def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        *,
        client_token: str | None = None,
    ) -> CheckpointResponse:
        """``CheckpointDurableExecution``: validate, apply, commit, answer with a delta."""
        return self.checkpoint_now(
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
        ex = self._lookup(execution_arn, "CheckpointDurableExecution")
        cached = self._client_tokens.get(execution_arn)
        if client_token and cached and cached[:2] == (client_token, checkpoint_token):
            return cached[2]
        self._check_token(ex, checkpoint_token, "CheckpointDurableExecution")
        now = self.clock.now()
        ex.fire_timers(now)  # timers due now are visible to this very call (§2.6)
        if not ex.running:
            self._after_timers(ex)
            raise stale_token(f"execution {ex.arn} has ended", ex.arn)
        updates = list(updates)
        try:
            validate_updates(ex.operations, updates, region=self.region, account=self.account)
        except CheckpointError as exc:
            exc.execution_arn = ex.arn
            self._after_timers(ex)
            raise
        record = ex.record
        children: list[tuple[str, InvokeLink]] = []
        unresolved: list[tuple[str, str]] = []
        new_callbacks: list[str] = []
        for u in updates:
            if u.type is OperationType.EXECUTION:
                if u.action is OperationAction.SUCCEED:
                    ex.finish(ExecutionStatus.SUCCEEDED, now, result=u.payload)
                else:
                    ex.finish(ExecutionStatus.FAILED, now, error=u.error or ErrorObject())
                continue
            if u.type is OperationType.CHAINED_INVOKE:
                assert u.chained_invoke_options is not None
                target, _ = parse_function_name(
                    u.chained_invoke_options.function_name,
                    region=self.region,
                    account=self.account,
                )
                function = self._functions.get(target)
                if function is None:
                    unresolved.append((u.id, target))
                else:
                    link = InvokeLink(
                        function_name=target,
                        payload=u.payload,
                        child_arn=self._new_arn(target, uuid.uuid4().hex)
                        if function.durable
                        else None,
                    )
                    record.invokes[u.id] = link
                    children.append((u.id, link))
            elif u.type is OperationType.CALLBACK:
                new_callbacks.append(u.id)
            ex.apply(u, now)
        for op_id, target in unresolved:
            ex.complete_invoke(
                op_id,
                OperationStatus.FAILED,
                now,
                result=None,
                error=ErrorObject(
                    error_type=ResourceNotFoundError.code,
                    error_message=f"Function not found: {self.function_arn(target)}",
                ),
                external=False,
            )
        token: str | None = None
        if ex.running:
            if self.replay_check and _records_progress(updates):
                record.token = None
                self._revoked.add(ex.arn)
            else:
                token = self._new_token(record)
        delta = [ex.operations[i] for i in record.delta_ids if i in ex.operations]
        record.delta_ids = []
        for op_id in new_callbacks:
            details = ex.operations[op_id].callback_details
            if details is not None and details.callback_id:
                self._callbacks[details.callback_id] = (ex.arn, op_id)
        self._save(ex)  # durable before it is acknowledged
        if not ex.running:
            self._after_finish(ex)
        for op_id, link in children:
            if link.child_arn is None:
                self._call_plain(ex, op_id, link)
            else:
                self._start_child(ex, op_id, link)
        for op_id in new_callbacks:
            for listener in self._callback_listeners:
                listener(ex.arn, ex.operations[op_id])
        self.kick()
        response = CheckpointResponse(
            checkpoint_token=token, new_execution_state=StatePage(operations=delta)
        )
        if client_token:
            self._client_tokens[ex.arn] = (client_token, checkpoint_token, response)
        return response

    async def get_state(
        self,
        execution_arn: str,
        checkpoint_token: str,
        *,
        marker: str,
        max_items: int = 1000,
    ) -> StatePage:
        """``GetDurableExecutionState``: one page of operations; the token is not spent."""
        return self.get_state_now(
            execution_arn, checkpoint_token, marker=marker, max_items=max_items
        )

    def get_state_now(
        self, execution_arn: str, checkpoint_token: str, *, marker: str | None, max_items: int
    ) -> StatePage:
        """``get_state`` without awaiting: one page of operations."""
        ex = self._lookup(execution_arn, "GetDurableExecutionState")
        self._check_token(ex, checkpoint_token, "GetDurableExecutionState")
        start = _parse_marker(marker)
        if not 0 <= max_items <= 1000:
            raise _invalid_state_call(f"MaxItems must be 0..1000, got {max_items}")
        page, next_marker = self._page(list(ex.operations.values()), start, max_items or 100)
        return StatePage(operations=page, next_marker=next_marker)

    @staticmethod
    def _page(
        ops: list[Operation], start: int, max_items: int
    ) -> tuple[list[Operation], str | None]:
        page: list[Operation] = []
        size = 0
        index = start
        while index < len(ops) and len(page) < max_items:
            op_size = len(msgspec.json.encode(op := ops[index]))
            if page and size + op_size > _MAX_PAGE_BYTES:
                break
            page.append(op)
            size += op_size
            index += 1
        return page, (str(index) if index < len(ops) else None)

    # -- restart ---------------------------------------------------------------------------
    def _load(self) -> None:
        stored_executions = self.store.load()
        if isinstance(self.clock, VirtualClock):
            # Virtual time never runs backwards across a restart.
            for stored in stored_executions:
                if stored.events:
                    self.clock.advance_to(stored.events[-1].event_timestamp)
        now = self.clock.now()
        for stored in stored_executions:
            ex = ExecutionState(stored.record, stored.operations, stored.events)
            record = ex.record
            self._executions[record.arn] = ex
            self._by_name[(record.function_name, record.name)] = record.arn
            for op_id, timer in record.callbacks.items():
                self._callbacks[timer.callback_id] = (record.arn, op_id)
            for op in ex.operations.values():
                details = op.callback_details
                if details is not None and details.callback_id:
                    self._callbacks.setdefault(details.callback_id, (record.arn, op.id))
            if ex.running and record.invocation_started is not None:
                ex.invocation_completed(
                    record.invocation_started, now, record.request_id or "", _INTERRUPTED
                )
                record.invocation_started = None
                record.wants_invocation = True
            record.token = None
            self._save(ex)


def _invocation_error(error: BaseException) -> ErrorObject:
    """What Lambda reports for a failed invocation; an exited process is ``Runtime.ExitError``."""
    if isinstance(error, (SystemExit, InvocationExitError)):
        return ErrorObject(
            error_type="Runtime.ExitError",
            error_message=f"Runtime exited with error: {error}",
        )
    return error_object_from_exception(error)


def _records_progress(updates: Sequence[OperationUpdate]) -> bool:
    """Whether a replay-check backend ends the invocation after this batch.

    Starting a step or a context records no outcome, and ending the invocation right
    after an at-most-once START would make the next one see the attempt interrupted.
    """
    return any(
        not (
            u.action is OperationAction.START
            and u.type in (OperationType.STEP, OperationType.CONTEXT)
        )
        for u in updates
    )


def _parse_marker(marker: str | None) -> int:
    if not marker:
        return 0
    start = parse_count(marker)
    if start is None:
        raise _invalid_state_call(f"Marker {marker[:64]!r} was not returned by this service")
    return start


def _invalid_state_call(message: str) -> CheckpointError:
    return CheckpointError(
        message,
        retryable=False,
        operation="GetDurableExecutionState",
        error_code=InvalidParameterError.code,
        status_code=InvalidParameterError.status_code,
    )


def _parse_output(output: Any) -> tuple[InvocationOutput | None, str]:
    """The handler's output envelope, or why it is invalid (PROTOCOL §1.5)."""
    if isinstance(output, (str, bytes)):
        try:
            output = json.loads(output)
        except ValueError:
            return None, "the function's output is not JSON"
    try:
        parsed = msgspec.convert(output, InvocationOutput)
    except msgspec.ValidationError as exc:
        return None, f"the function's output is not a durable invocation output: {exc}"
    if parsed.status is InvocationStatus.SUCCEEDED and parsed.error is not None:
        return None, "the function's output has Status SUCCEEDED and an Error"
    if parsed.status is InvocationStatus.FAILED and parsed.result is not None:
        return None, "the function's output has Status FAILED and a Result"
    return parsed, ""
