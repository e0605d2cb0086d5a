"""Invocations: launching the handler with its envelope and reading what it returned.

:meth:`Invoker.launch` issues a fresh token, builds the invocation event (the first page
of operations and ``UpdatedOperationIds``) and runs the handler as a backend task;
:meth:`Invoker.end` records the ``InvocationCompleted`` event and interprets the outcome
(docs/protocol.md §1.5): a result or an error ends the execution, ``PENDING`` waits for the next
trigger, a raised error or an exited process is retried a bounded number of times.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec

from aiodurable.errors import InvocationExitError, error_object_from_exception
from aiodurable.lambda_context import LAMBDA_MAX_TIMEOUT, LocalLambdaContext
from aiodurable.limits import MAX_RESPONSE_BYTES, escaped_bytes
from aiodurable.local.clock import Clock
from aiodurable.local.encoding import to_event_json
from aiodurable.local.execution import Execution
from aiodurable.local.lifecycle import Lifecycle
from aiodurable.local.pausing import end_pausing
from aiodurable.local.records import ExecutionStatus
from aiodurable.local.registry import Registry
from aiodurable.local.service_side import ServiceSide, page
from aiodurable.local.workers import Workers
from aiodurable.service import DurableServiceClient
from aiodurable.wire import ErrorObject, InvocationOutput, InvocationStatus

__all__ = ["Invoker"]

_PENDING_WITHOUT_WORK = "the function returned PENDING although no operation is pending"


class Invoker:
    """Runs one invocation at a time per execution and interprets its outcome."""

    def __init__(
        self,
        registry: Registry,
        lifecycle: Lifecycle,
        service: ServiceSide,
        workers: Workers,
        clock: Clock,
        *,
        client: DurableServiceClient,
        max_invocation_attempts: int,
        invocation_retry_delay: float,
        max_invalid_pending: int,
        first_page_size: int,
    ) -> None:
        self._registry = registry
        self._lifecycle = lifecycle
        self._service = service
        self._workers = workers
        self._clock = clock
        #: What handlers checkpoint through: the backend itself.
        self._client = client
        self.max_invocation_attempts = max_invocation_attempts
        self.invocation_retry_delay = invocation_retry_delay
        self.max_invalid_pending = max_invalid_pending
        self.first_page_size = first_page_size

    def launch(self, ex: Execution, now: datetime) -> None:
        """Start an invocation of ``ex`` now."""
        event = self.begin(ex, now)
        self._workers.invoke(ex.arn, self._invoke(ex, event, now))

    def begin(
        self, ex: Execution, now: datetime, first_page_size: int | None = None
    ) -> dict[str, Any]:
        """Record an invocation of ``ex`` starting now; its event (a fresh token, the
        first page of operations, the ids updated since the last invocation)."""
        record = ex.record
        record.wants_invocation = False
        record.invoke_not_before = None
        record.invocations += 1
        record.invocation_started = now
        record.request_id = str(uuid.uuid4())
        token = self._service.new_token(record)
        updated, record.updated_ids = record.updated_ids, []
        record.delta_ids = []
        operations, marker = page(
            list(ex.operations.values()), 0, first_page_size or self.first_page_size
        )
        state: dict[str, Any] = {"Operations": to_event_json(operations)}
        if marker:
            state["NextMarker"] = marker
        event = {
            "DurableExecutionArn": ex.arn,
            "CheckpointToken": token,
            "InitialExecutionState": state,
            "UpdatedOperationIds": updated,
        }
        self._registry.save(ex)
        return event

    async def _invoke(self, ex: Execution, event: dict[str, Any], started: datetime) -> None:
        function = self._registry.functions[ex.record.function_name]
        output: Any = None
        error: BaseException | None = None
        try:
            output = await function.target.run(
                event, self._lambda_context(ex, started), client=self._client
            )
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # SystemExit too: the sandbox's process exited
            error = exc
        finally:
            self._workers.invocation_ended(ex.arn)
        self.end(ex, started, output, error)

    def _lambda_context(self, ex: Execution, started: datetime) -> LocalLambdaContext:
        """What a Lambda invocation of ``ex`` would get: its request id, the function's
        ARN, and Lambda's longest timeout counted on the backend's clock."""
        name = ex.record.function_name
        return LocalLambdaContext(
            aws_request_id=ex.record.request_id or "",
            function_name=name,
            invoked_function_arn=self._registry.function_arn(name),
            deadline=started + LAMBDA_MAX_TIMEOUT,
            now=self._clock.now,
        )

    def end(
        self, ex: Execution, started: datetime, output: Any, error: BaseException | None
    ) -> None:
        """Record the invocation's end and act on its outcome."""
        self._end(ex, started, output, error)
        # A pause requested during the invocation takes effect once it is over.
        if end_pausing(ex, self._clock.now()):
            self._registry.save(ex)

    def _end(
        self, ex: Execution, started: datetime, output: Any, error: BaseException | None
    ) -> None:
        now = self._clock.now()
        record = ex.record
        request_id = record.request_id or ""
        record.invocation_started = None
        record.token = None
        revoked = self._service.invocation_ended(ex.arn)
        error_object = _invocation_error(error) if error is not None else None
        ex.invocation_completed(started, now, request_id, error_object)
        if ex.running:
            self._lifecycle.dispatch_waiting(ex)
        if not ex.running:
            self._registry.save(ex)  # completed by a checkpoint, stopped or timed out meanwhile
            return
        if error_object is not None:
            record.failed_invocations += 1
            if record.failed_invocations >= self.max_invocation_attempts:
                self._lifecycle.finish(ex, ExecutionStatus.FAILED, now, error=error_object)
                return
            record.wants_invocation = True
            record.invoke_not_before = now + timedelta(seconds=self.invocation_retry_delay)
            self._registry.save(ex)
            return
        record.failed_invocations = 0
        parsed, problem = _parse_output(output)
        if parsed is None:
            self._fail(ex, now, problem)
        elif parsed.status is InvocationStatus.SUCCEEDED:
            self._lifecycle.finish(ex, ExecutionStatus.SUCCEEDED, now, result=parsed.result)
        elif parsed.status is InvocationStatus.FAILED:
            self._lifecycle.finish(
                ex, ExecutionStatus.FAILED, now, error=parsed.error or ErrorObject()
            )
        elif revoked or record.updated_ids or ex.has_pending_work():
            record.invalid_pendings = 0
            if revoked or record.updated_ids:
                record.wants_invocation = True
            self._registry.save(ex)
        else:
            record.invalid_pendings += 1
            if record.invalid_pendings >= self.max_invalid_pending:
                self._fail(
                    ex, now, "the function returned PENDING although no operation is pending"
                )
            else:
                record.wants_invocation = True
                self._registry.save(ex)

    def _fail(self, ex: Execution, now: datetime, problem: str) -> None:
        error = ErrorObject(error_type="InvalidParameterValueException", error_message=problem)
        self._lifecycle.finish(ex, ExecutionStatus.FAILED, now, error=error)


def _invocation_error(error: BaseException) -> ErrorObject:
    """What Lambda reports for a failed invocation; an exited process is ``Runtime.ExitError``."""
    if isinstance(error, (SystemExit, InvocationExitError)):
        return ErrorObject(
            error_type="Runtime.ExitError",
            error_message=f"Runtime exited with error: {error}",
        )
    return error_object_from_exception(error)


def _parse_output(output: Any) -> tuple[InvocationOutput | None, str]:
    """The handler's output envelope, or why it is invalid (docs/protocol.md §1.5)."""
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
    size = escaped_bytes(parsed.result) + _ENVELOPE_BYTES if parsed.result is not None else 0
    if size > MAX_RESPONSE_BYTES:
        return None, (
            f"the function's response is {size} bytes; Lambda returns at most "
            f"{MAX_RESPONSE_BYTES} bytes (Function.ResponseSizeTooLarge). A durable handler "
            "completes a larger result through an EXECUTION checkpoint instead"
        )
    return parsed, ""


#: ``{"Status":"SUCCEEDED","Result":}`` around the escaped result.
_ENVELOPE_BYTES = 32
