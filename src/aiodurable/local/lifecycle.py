"""Starting and ending executions, including those a chained invoke starts.

An execution starts from ``StartDurableExecution`` or from a chained invoke of a durable
function; it ends by a checkpoint, an invocation's output, a timer or a stop. When an
execution that a chained invoke started ends, its outcome completes the invoking
operation. A chained invoke of a plain function calls it once as backend work.
"""

from __future__ import annotations

import inspect
import json
import uuid
from datetime import datetime, timedelta

from aiodurable.errors import error_object_from_exception
from aiodurable.local.changes import Changes
from aiodurable.local.clock import Clock
from aiodurable.local.errors import (
    ExecutionAlreadyStartedError,
    InvalidParameterError,
    ResourceNotFoundError,
)
from aiodurable.local.execution import Execution
from aiodurable.local.records import ExecutionRecord, ExecutionStatus, InvokeLink
from aiodurable.local.registry import NAME_PATTERN, Registry
from aiodurable.local.validation import MAX_INVOKE_PAYLOAD_BYTES
from aiodurable.local.workers import Workers
from aiodurable.serdes import encode_json
from aiodurable.wire import ErrorObject, OperationStatus

__all__ = ["Lifecycle"]

_CHILD_TOO_LARGE = ErrorObject(
    error_type="InvalidParameterValueException",
    error_message=(
        f"Execution output payload size must be less than or equal to "
        f"{MAX_INVOKE_PAYLOAD_BYTES} bytes."
    ),
)
_CHILD_TIMEOUT = ErrorObject(
    error_type="ChainedInvoke.Timeout", error_message="The invoked execution timed out"
)


class Lifecycle:
    """Creates executions, ends them, and links chained invokes to their targets."""

    def __init__(
        self,
        registry: Registry,
        clock: Clock,
        workers: Workers,
        changes: Changes,
        *,
        execution_timeout: int,
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._workers = workers
        self._changes = changes
        self.execution_timeout = execution_timeout

    # -- starting --------------------------------------------------------------------------
    def start(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None,
        execution_timeout: int | None,
    ) -> Execution:
        """``StartDurableExecution``, idempotent by ``name`` for the same input."""
        registry = self._registry
        function = registry.functions.get(function_name)
        if function is None or not function.durable:
            # Read by Python callers and by CLI and HTTP users alike: name what exists.
            known = sorted(name for name, f in registry.functions.items() if f.durable)
            raise ResourceNotFoundError(
                f"Function not found: {registry.function_arn(function_name)}. This local "
                "backend has "
                + (f"these durable functions: {', '.join(known)}" if known else "none")
            )
        name = name or uuid.uuid4().hex
        if not NAME_PATTERN.fullmatch(name):
            raise InvalidParameterError(
                f"execution name {name!r} must be 1-64 characters of [a-zA-Z0-9_-]"
            )
        ex = registry.find_name(function_name, name)
        if ex is not None:
            if ex.record.input_payload != input_payload:
                raise ExecutionAlreadyStartedError(
                    f"an execution named {name!r} of {function_name} already exists with a "
                    "different input; choose another name"
                )
            return ex
        arn = registry.new_arn(function_name, name)
        return self.create(arn, function_name, name, input_payload, execution_timeout)

    def create(
        self,
        arn: str,
        function_name: str,
        name: str,
        input_payload: str | None,
        execution_timeout: int | None = None,
        parent: tuple[str, str] | None = None,
    ) -> Execution:
        """A new running execution, saved, with its ``ExecutionStarted`` event."""
        now = self._clock.now()
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
        ex = Execution(record)
        ex.start(now)
        self._registry.add(ex)
        self._registry.save(ex)
        self._changes.kick()
        return ex

    # -- ending ----------------------------------------------------------------------------
    def finish(
        self,
        ex: Execution,
        status: ExecutionStatus,
        now: datetime,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> None:
        """End ``ex``, save it, and report it to the execution that invoked it."""
        ex.finish(status, now, result=result, error=error)
        self._registry.save(ex)
        self.report_end(ex)

    def settle(self, ex: Execution) -> None:
        """Save what timers changed in ``ex``; report it if that ended it."""
        ops, events = ex.take_changes()
        if ops or events:
            self._registry.save(ex, ops, events)
            if not ex.running:
                self.report_end(ex)

    def report_end(self, ex: Execution) -> None:
        """Report a finished chained-invoke target to the execution that invoked it."""
        record = ex.record
        parent = self._registry.executions.get(record.parent_arn or "")
        if parent is None or record.parent_operation_id is None:
            return
        status = OperationStatus(record.status.value)
        result, error = record.result, record.error
        if status is OperationStatus.TIMED_OUT:
            error = _CHILD_TIMEOUT
        if result is not None and len(result.encode()) > MAX_INVOKE_PAYLOAD_BYTES:
            status, result, error = OperationStatus.FAILED, None, _CHILD_TOO_LARGE
        if parent.complete_invoke(
            record.parent_operation_id, status, self._clock.now(), result=result, error=error
        ):
            self._registry.save(parent)
            self._changes.kick()

    # -- chained invokes -------------------------------------------------------------------
    def dispatch(self, ex: Execution, op_id: str, link: InvokeLink) -> None:
        """Start the target of the chained invoke ``op_id`` of ``ex``."""
        link.dispatched = True
        if link.child_arn is None:
            self._call_plain(ex, op_id, link)
        else:
            name = link.child_arn.split("/")[-2]
            self.create(
                link.child_arn, link.function_name, name, link.payload, parent=(ex.arn, op_id)
            )

    def dispatch_waiting(self, ex: Execution) -> None:
        """Start the targets the invocation that just ended called."""
        waiting = [
            (op_id, link) for op_id, link in ex.record.invokes.items() if not link.dispatched
        ]
        for op_id, link in waiting:
            self.dispatch(ex, op_id, link)
        if waiting:
            self._registry.save(ex)

    def resume_invokes(self, ex: Execution) -> None:
        """After a restart: dispatch again what was in flight when the backend stopped."""
        for op_id, link in list(ex.record.invokes.items()):
            if link.child_arn is None or self._registry.record(link.child_arn) is None:
                self.dispatch(ex, op_id, link)

    def _call_plain(self, ex: Execution, op_id: str, link: InvokeLink) -> None:
        function = self._registry.functions.get(link.function_name)

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
            target = self._registry.executions.get(ex.arn)
            if target is None:
                return  # the execution ended meanwhile; nothing waits for the result
            status = OperationStatus.SUCCEEDED if error is None else OperationStatus.FAILED
            now = self._clock.now()
            if target.complete_invoke(op_id, status, now, result=result, error=error):
                self._registry.save(target)

        self._workers.spawn(call(), name=f"aiodurable-invoke {link.function_name}")
