"""``LocalRunner``: run durable workflows in tests on the embedded local backend.

    async with LocalRunner(order_workflow) as runner:
        run = await runner.run({"order_id": "o-1"})
        assert run.status == "SUCCEEDED"
        assert run.result == Receipt(...)
        assert run.step("charge").attempts == 2

Time is virtual by default: it stands still while a test inspects a suspended execution
and skips ahead (to the next wait end, retry or timeout) while the test awaits a result,
so a 7-day wait takes milliseconds.
"""

from __future__ import annotations

import inspect
import os
import re
import typing
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from aiodurable.errors import error_object_from_exception
from aiodurable.handler import DurableHandler
from aiodurable.local import (
    Clock,
    Event,
    ExecutionInfo,
    ExecutionStalledError,
    LocalBackend,
    MemoryStore,
    RealClock,
    SqliteStore,
    Store,
    VirtualClock,
)
from aiodurable.serdes import decode_json, encode_json
from aiodurable.testing.views import (
    CallbackRequest,
    Inspection,
    OperationView,
    Responder,
    RunResult,
    as_responder,
)
from aiodurable.wire import ErrorObject, Operation, OperationStatus, OperationType
from aiodurable.wire.callback_names import matches_name, user_name

__all__ = [
    "CallbackRequest",
    "LocalRunner",
    "OperationView",
    "Run",
    "RunResult",
    "UnmatchedResponderError",
]

R = TypeVar("R")

_FUNCTION_NAME = re.compile(r"[^a-zA-Z0-9_-]")


class UnmatchedResponderError(AssertionError):
    """A ``runner.on_callback`` responder answered no callback while the runner ran.

    An unanswered callback waits out its timeout, and a workflow that handles the
    timeout then succeeds down the wrong branch: the test must fail instead.
    """


def _callback_names(operations: list[Operation]) -> list[str]:
    """The user's names of the callbacks in ``operations``, for error messages."""
    return sorted(
        {
            user_name(op.type, op.name) or f"<unnamed {op.id[:12]}>"
            for op in operations
            if op.type is OperationType.CALLBACK
        }
    )


class Run(Inspection, Generic[R]):
    """A started execution: inspect it while it runs, complete its callbacks, await it."""

    def __init__(self, runner: LocalRunner[R], arn: str) -> None:
        self._runner = runner
        self.arn = arn

    def _operations(self) -> list[Operation]:
        return self._runner.backend.operations(self.arn)

    def _history(self) -> list[Event]:
        return self._runner.backend.history(self.arn)

    @property
    def info(self) -> ExecutionInfo:
        """The backend's current view of the execution."""
        return self._runner.backend.describe(self.arn)

    @property
    def status(self) -> str:
        """``RUNNING`` until the execution ends."""
        return self.info.status.value

    async def wait(self) -> RunResult[R]:
        """Wait for the execution to end (virtual time skips meanwhile).

        Raises :class:`~aiodurable.local.ExecutionStalledError` if it waits for a
        callback or invoke that nothing will complete.
        """
        info = await self._runner.backend.wait_for_completion(self.arn)
        return self._runner._result(info)

    async def callback_started(
        self, name: str | None = None, *, suspended: bool = True
    ) -> OperationView:
        """Wait until a callback (named ``name``, or any) has started; return it.

        Virtual time skips meanwhile, as in :meth:`wait`, so waits and retries before the
        callback pass at once; callback and invoke timeouts are never skipped to. With
        ``suspended`` (the default) also wait for the invocation that created it to end,
        as an external system would see it.

        Raises :class:`~aiodurable.local.ExecutionStalledError` when the execution can no
        longer progress and no such callback has started, and ``RuntimeError`` when the
        execution ended first.
        """
        backend = self._runner.backend
        wanted = f"callback {name!r}" if name is not None else "a callback"

        def callback() -> Operation | None:
            if suspended and backend.is_invoking(self.arn):
                return None
            for op in backend.operations(self.arn):
                if (
                    op.type is OperationType.CALLBACK
                    and op.status is OperationStatus.STARTED
                    and (name is None or matches_name(op, name))
                ):
                    return op
            return None

        def settled() -> bool:
            return callback() is not None or backend.describe(self.arn).done or backend.stalled

        with backend.skipping_until(lambda: callback() is not None):
            await backend.wait_until(settled)
        op = callback()
        if op is not None:
            return OperationView(op)
        started = _callback_names(backend.operations(self.arn))
        seen = f"callbacks it started: {started}" if started else "it started no callback"
        if backend.describe(self.arn).done:
            raise RuntimeError(f"execution {self.arn} ended before {wanted} started; {seen}")
        raise ExecutionStalledError(
            f"{wanted} never started ({seen}): {backend.stall_reason(self.arn)}"
        )

    async def suspended(self) -> None:
        """Wait until no invocation of this execution is running (or it has ended)."""
        backend = self._runner.backend
        await backend.wait_until(lambda: not backend.is_invoking(self.arn))

    def _callback_id(self, callback: str) -> str:
        """A callback id, or the id of the callback named ``callback``."""
        operations = self._operations()
        for op in operations:
            details = op.callback_details
            if details is not None and (
                callback == details.callback_id or matches_name(op, callback)
            ):
                assert details.callback_id is not None
                return details.callback_id
        raise KeyError(
            f"execution {self.arn} has no callback named or with id {callback!r}; "
            f"its callbacks: {_callback_names(operations)}"
        )

    def complete_callback(
        self, callback: str, value: Any = None, *, raw: str | bytes | None = None
    ) -> None:
        """Complete a callback (by name or id) with ``value`` as JSON, or ``raw`` text."""
        payload = raw if raw is not None else encode_json(value)
        self._runner.backend.send_callback_success(self._callback_id(callback), payload)

    def fail_callback(
        self,
        callback: str,
        message: str | None = None,
        *,
        error_type: str | None = None,
        data: str | None = None,
    ) -> None:
        """Fail a callback (by name or id)."""
        self._runner.backend.send_callback_failure(
            self._callback_id(callback),
            ErrorObject(error_type=error_type, error_message=message, error_data=data),
        )

    def heartbeat_callback(self, callback: str) -> None:
        """Send a heartbeat for the callback named or identified by ``callback``."""
        self._runner.backend.send_callback_heartbeat(self._callback_id(callback))

    def stop(self, message: str | None = None) -> None:
        """Stop the execution (``StopDurableExecution``)."""
        error = ErrorObject(error_message=message) if message else None
        self._runner.backend.stop_execution(self.arn, error)

    def pause(self, reason: str | None = None, *, execution_timeout_paused: bool = True) -> None:
        """Pause the execution (``PauseDurableExecution``): ``PAUSING`` while an invocation
        runs (until its next checkpoint, see :meth:`paused`), else ``PAUSED`` at once.

        While paused nothing invokes the workflow, but waits, retries and callbacks keep
        completing; :meth:`resume` invokes it again if anything is owed.
        """
        self._runner.backend.pause_execution(
            self.arn, reason=reason, execution_timeout_paused=execution_timeout_paused
        )

    async def paused(self) -> None:
        """Wait until the execution is ``PAUSED`` (its running invocation reached a
        checkpoint or ended) or has ended."""
        backend = self._runner.backend
        await backend.wait_until(
            lambda: (
                self.info.done
                or (self.info.status == "PAUSED" and not backend.is_invoking(self.arn))
            )
        )

    def resume(self, reason: str | None = None) -> None:
        """Resume a paused execution (``ResumeDurableExecution``)."""
        self._runner.backend.resume_execution(self.arn, reason=reason)

    def delete(self) -> None:
        """Delete the finished execution and everything stored about it."""
        self._runner.backend.delete_execution(self.arn)


def _return_type(handler: Any) -> Any:
    workflow = getattr(handler, "workflow", None)
    if workflow is None:
        return Any
    try:
        return typing.get_type_hints(workflow).get("return", Any)
    except Exception:
        return Any


def _make_clock(clock: Literal["virtual", "real"] | Clock, start: datetime | None) -> Clock:
    if clock == "virtual":
        return VirtualClock(start, auto_advance=False)
    if clock == "real":
        return RealClock()
    if isinstance(clock, str):
        raise ValueError(f"clock must be 'virtual', 'real' or a Clock, not {clock!r}")
    return clock


class LocalRunner(Generic[R]):
    """Runs a durable handler on an embedded :class:`~aiodurable.local.LocalBackend`.

    Args:
        handler: the ``@durable_execution`` handler under test.
        clock: ``"virtual"`` (default), ``"real"`` or a :class:`~aiodurable.local.Clock`.
        store: a :class:`~aiodurable.local.Store` or a SQLite file path (default: memory).
        functions: more functions for chained invokes (name → handler or function).
        replay_check: end each invocation after every checkpoint that records progress,
            so everything is replayed once more — non-determinism shows up at once.
        function_name: the handler's function name (default: its ``__name__``).
    """

    def __init__(
        self,
        handler: DurableHandler[Any, R],
        *,
        clock: Literal["virtual", "real"] | Clock = "virtual",
        start: datetime | None = None,
        store: Store | str | os.PathLike[str] | None = None,
        functions: Mapping[str, Any] | None = None,
        replay_check: bool = False,
        function_name: str | None = None,
        **backend_options: Any,
    ) -> None:
        if isinstance(store, (str, os.PathLike)):
            store = SqliteStore(store)
        self.handler = handler
        self.function_name = (
            function_name or _FUNCTION_NAME.sub("-", getattr(handler, "__name__", "workflow"))[:64]
        )
        self.backend = LocalBackend(
            store=store or MemoryStore(),
            clock=_make_clock(clock, start),
            functions={self.function_name: handler, **(functions or {})},
            replay_check=replay_check,
            **backend_options,
        )
        self._result_type = _return_type(handler)
        self._responders: list[tuple[str | re.Pattern[str] | None, Responder]] = []
        self._answered: set[int] = set()  # indexes of responders that matched a callback
        self._started_callbacks: set[str] = set()
        self.backend.on_callback_started(self._callback_started)
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> LocalRunner[R]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.backend)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, exc_type: object, *exc_info: object) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
        if exc_type is None:
            self._check_responders()

    def _check_responders(self) -> None:
        """Fail when a responder never matched: its callback ran into its timeout."""
        unused = [
            pattern.pattern if isinstance(pattern, re.Pattern) else pattern
            for index, (pattern, _) in enumerate(self._responders)
            if index not in self._answered
        ]
        if not unused:
            return
        started = sorted(self._started_callbacks)
        raise UnmatchedResponderError(
            f"runner.on_callback responder(s) for {unused} answered no callback; "
            + (f"callbacks started: {started}" if started else "no callback started")
            + " (match the name given to create_callback or wait_for_callback)"
        )

    @property
    def clock(self) -> Clock:
        """The backend's clock (virtual or real)."""
        return self.backend.clock

    def now(self) -> datetime:
        """The current time on the backend's clock."""
        return self.backend.clock.now()

    def register(self, function_name: str, target: Any) -> None:
        """Register an invoke target: a durable handler or a plain (async) function."""
        self.backend.register(function_name, target)

    def advance(self, delta: timedelta | float) -> datetime:
        """Move virtual time forward; due timers fire and handlers are re-invoked."""
        return self.backend.advance(delta)

    def on_callback(self, name: str | re.Pattern[str] | None, responder: Responder | Any) -> None:
        """Answer callbacks named ``name`` (a string, a regex, or ``None`` for all).

        ``name`` is the name given to ``create_callback`` or ``wait_for_callback``; a
        regex is searched in it. A responder that has answered no callback when the
        runner's ``async with`` block ends fails the test with
        :class:`UnmatchedResponderError`, naming the callbacks that started.

        ``responder`` is a value (sent as JSON) or a function of a
        :class:`CallbackRequest`, sync or async, whose return value is sent as JSON; if it
        raises, the callback fails with that error.
        """
        self._responders.append((name, as_responder(responder)))

    def _callback_started(self, arn: str, op: Operation) -> None:
        name = user_name(op.type, op.name)
        self._started_callbacks.add(name or f"<unnamed {op.id[:12]}>")
        for index, (pattern, responder) in enumerate(self._responders):
            if pattern is None or (
                matches_name(op, pattern)
                if isinstance(pattern, str)
                else any(n is not None and pattern.search(n) for n in (name, op.name))
            ):
                self._answered.add(index)
                details = op.callback_details
                assert details is not None
                assert details.callback_id is not None
                request = CallbackRequest(details.callback_id, name, arn, op)
                self.backend.spawn(
                    self._respond(responder, request), name=f"aiodurable-responder {name}"
                )
                return

    async def _respond(self, responder: Responder, request: CallbackRequest) -> None:
        try:
            value = responder(request)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            self.backend.send_callback_failure(
                request.callback_id, error_object_from_exception(exc)
            )
            return
        self.backend.send_callback_success(request.callback_id, encode_json(value))

    async def start(self, input: Any = None, *, name: str | None = None) -> Run[R]:
        """Start an execution and return at once; ``await run.wait()`` for the end."""
        payload = None if input is None else encode_json(input)
        info = self.backend.start_execution(self.function_name, payload, name=name)
        return Run(self, info.arn)

    async def run(self, input: Any = None, *, name: str | None = None) -> RunResult[R]:
        """Start an execution and wait for it to end."""
        run = await self.start(input, name=name)
        return await run.wait()

    def _result(self, info: ExecutionInfo) -> RunResult[R]:
        value: Any = None
        if info.result:
            value = decode_json(info.result, self._result_type)
        return RunResult(
            info, value, self.backend.operations(info.arn), self.backend.history(info.arn)
        )
