"""A small in-memory durable execution service for the runtime's tests.

It applies updates with the service's state transitions (PROTOCOL §2.6), chains tokens,
returns deltas, pages state, and records every call so tests can assert on them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from aiodurable.errors import CheckpointError
from aiodurable.wire import (
    CallbackDetails,
    ChainedInvokeDetails,
    CheckpointResponse,
    ContextDetails,
    ErrorObject,
    ExecutionDetails,
    ExecutionState,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    WaitDetails,
)


@dataclass
class Call:
    token: str
    updates: list[OperationUpdate]


@dataclass
class FakeExecution:
    arn: str
    operations: dict[str, Operation]
    token: str
    pending_delta: set[str] = field(default_factory=set)
    result: Any = None
    done: bool = False


class FakeService:
    def __init__(self, *, start: datetime | None = None, page_size: int = 1000) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self.executions: dict[str, FakeExecution] = {}
        self.calls: list[Call] = []
        self.state_calls = 0
        self.page_size = page_size
        self._tokens = itertools.count(1)
        self._callbacks = itertools.count(1)
        self.fail_next: list[CheckpointError] = []
        self.revoke_next = False
        #: Crash injection: fail the checkpoint call with this 1-based number, either
        #: before applying it ("before") or after applying it ("after": response lost).
        self.crash_at: int | None = None
        self.crash_mode = "before"

    # -- test controls -------------------------------------------------------------------
    def start(self, payload: str | None = "{}", *, name: str = "run") -> str:
        exec_id = f"{name}-{len(self.executions) + 1}"
        arn = f"arn:aws:lambda:us-east-1:123456789012:function:wf:$LATEST/durable-execution/{name}/{exec_id}"
        op = Operation(
            id=exec_id,
            type=OperationType.EXECUTION,
            status=OperationStatus.STARTED,
            start_timestamp=self.now,
            name=name,
            execution_details=ExecutionDetails(input_payload=payload),
        )
        self.executions[arn] = FakeExecution(arn, {exec_id: op}, self._new_token())
        return arn

    def event(self, arn: str, *, first_page: int | None = None) -> dict[str, Any]:
        """The Lambda event for the next invocation (timestamps in milliseconds)."""
        ex = self.executions[arn]
        ex.token = self._new_token()
        ops = list(ex.operations.values())
        limit = first_page if first_page is not None else len(ops)
        raw = [_millis(msgspec.to_builtins(op)) for op in ops[:limit]]
        state: dict[str, Any] = {"Operations": raw}
        if limit < len(ops):
            state["NextMarker"] = str(limit)
        return {
            "DurableExecutionArn": arn,
            "CheckpointToken": ex.token,
            "InitialExecutionState": state,
        }

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        for ex in self.executions.values():
            self._fire_timers(ex)

    def operations(self, arn: str) -> list[Operation]:
        return list(self.executions[arn].operations.values())

    def complete_callback(
        self,
        arn: str,
        callback_id: str,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> None:
        ex = self.executions[arn]
        for op in ex.operations.values():
            if op.callback_details and op.callback_details.callback_id == callback_id:
                status = OperationStatus.FAILED if error else OperationStatus.SUCCEEDED
                self._put(
                    ex,
                    msgspec.structs.replace(
                        op,
                        status=status,
                        end_timestamp=self.now,
                        callback_details=CallbackDetails(
                            callback_id=callback_id, result=result, error=error
                        ),
                    ),
                )
                return
        raise KeyError(callback_id)

    def complete_invoke(
        self, arn: str, op_id: str, result: str | None = None, error: ErrorObject | None = None
    ) -> None:
        ex = self.executions[arn]
        op = ex.operations[op_id]
        status = OperationStatus.FAILED if error else OperationStatus.SUCCEEDED
        self._put(
            ex,
            msgspec.structs.replace(
                op,
                status=status,
                end_timestamp=self.now,
                chained_invoke_details=ChainedInvokeDetails(result=result, error=error),
            ),
        )

    # -- DurableServiceClient ------------------------------------------------------------
    async def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        *,
        client_token: str | None = None,
    ) -> CheckpointResponse:
        ex = self.executions[execution_arn]
        self.calls.append(Call(checkpoint_token, list(updates)))
        if self.fail_next:
            raise self.fail_next.pop(0)
        crash = self.crash_at is not None and len(self.calls) == self.crash_at
        if crash and self.crash_mode == "before":
            raise ConnectionResetError("injected crash before the checkpoint was applied")
        if checkpoint_token != ex.token:
            raise CheckpointError(
                "Invalid checkpoint token",
                retryable=True,
                error_code="InvalidParameterValueException",
                status_code=400,
            )
        self._fire_timers(ex)
        completed = False
        for update in updates:
            if update.type is OperationType.EXECUTION:
                completed = True
                ex.done = True
                ex.result = (
                    update.payload if update.action is OperationAction.SUCCEED else update.error
                )
                continue
            self._apply(ex, update)
        delta = [ex.operations[i] for i in sorted(ex.pending_delta)]
        ex.pending_delta.clear()
        if crash:
            ex.token = self._new_token()
            raise ConnectionResetError("injected crash after the checkpoint was applied")
        if completed:
            return CheckpointResponse(new_execution_state=ExecutionState(operations=delta))
        if self.revoke_next:
            self.revoke_next = False
            return CheckpointResponse(new_execution_state=ExecutionState(operations=delta))
        ex.token = self._new_token()
        return CheckpointResponse(
            checkpoint_token=ex.token, new_execution_state=ExecutionState(operations=delta)
        )

    async def get_state(
        self, execution_arn: str, checkpoint_token: str, *, marker: str, max_items: int = 1000
    ) -> ExecutionState:
        self.state_calls += 1
        ex = self.executions[execution_arn]
        ops = list(ex.operations.values())
        start = int(marker)
        size = min(max_items, self.page_size)
        end = start + size
        return ExecutionState(
            operations=ops[start:end], next_marker=str(end) if end < len(ops) else None
        )

    # -- service logic -------------------------------------------------------------------
    def _new_token(self) -> str:
        return f"token-{next(self._tokens)}"

    def _put(self, ex: FakeExecution, op: Operation) -> None:
        ex.operations[op.id] = op
        ex.pending_delta.add(op.id)

    def _fire_timers(self, ex: FakeExecution) -> None:
        for op in list(ex.operations.values()):
            if op.type is OperationType.WAIT and op.status is OperationStatus.STARTED:
                end = op.wait_details.scheduled_end_timestamp if op.wait_details else None
                if end is not None and end <= self.now:
                    self._put(
                        ex,
                        msgspec.structs.replace(
                            op, status=OperationStatus.SUCCEEDED, end_timestamp=self.now
                        ),
                    )
            elif op.type is OperationType.STEP and op.status is OperationStatus.PENDING:
                due = op.step_details.next_attempt_timestamp if op.step_details else None
                if due is not None and due <= self.now:
                    details = msgspec.structs.replace(op.step_details, next_attempt_timestamp=None)
                    self._put(
                        ex,
                        msgspec.structs.replace(
                            op, status=OperationStatus.READY, step_details=details
                        ),
                    )

    def _apply(self, ex: FakeExecution, u: OperationUpdate) -> None:
        old = ex.operations.get(u.id)
        now = self.now
        base = old or Operation(
            id=u.id,
            type=u.type,
            status=OperationStatus.STARTED,
            start_timestamp=now,
            parent_id=u.parent_id,
            name=u.name,
            sub_type=u.sub_type,
        )
        replace = msgspec.structs.replace
        action = u.action
        if u.type is OperationType.STEP:
            details = base.step_details or StepDetails(attempt=0)
            attempt = details.attempt or 0
            if action is OperationAction.START:
                op = replace(base, status=OperationStatus.STARTED, step_details=details)
            elif action is OperationAction.RETRY:
                assert u.step_options is not None
                due = now + timedelta(seconds=u.step_options.next_attempt_delay_seconds)
                op = replace(
                    base,
                    status=OperationStatus.PENDING,
                    step_details=StepDetails(
                        attempt=attempt + 1,
                        next_attempt_timestamp=due,
                        result=u.payload,
                        error=u.error,
                    ),
                )
            else:
                status = (
                    OperationStatus.SUCCEEDED
                    if action is OperationAction.SUCCEED
                    else OperationStatus.FAILED
                )
                op = replace(
                    base,
                    status=status,
                    end_timestamp=now,
                    step_details=StepDetails(attempt=attempt + 1, result=u.payload, error=u.error),
                )
        elif u.type is OperationType.WAIT:
            if action is OperationAction.START:
                assert u.wait_options is not None
                end = now + timedelta(seconds=u.wait_options.wait_seconds)
                op = replace(base, wait_details=WaitDetails(scheduled_end_timestamp=end))
            else:
                op = replace(base, status=OperationStatus.CANCELLED, end_timestamp=now)
        elif u.type is OperationType.CONTEXT:
            if action is OperationAction.START:
                op = base
            else:
                status = (
                    OperationStatus.SUCCEEDED
                    if action is OperationAction.SUCCEED
                    else OperationStatus.FAILED
                )
                replay = u.context_options.replay_children if u.context_options else None
                op = replace(
                    base,
                    status=status,
                    end_timestamp=now,
                    context_details=ContextDetails(
                        replay_children=replay, result=u.payload, error=u.error
                    ),
                )
        elif u.type is OperationType.CALLBACK:
            op = replace(
                base, callback_details=CallbackDetails(callback_id=f"cb-{next(self._callbacks)}")
            )
        elif u.type is OperationType.CHAINED_INVOKE:
            op = replace(base, chained_invoke_details=ChainedInvokeDetails())
        else:  # pragma: no cover
            raise AssertionError(u.type)
        self._put(ex, op)


def _millis(op: dict[str, Any]) -> dict[str, Any]:
    def ms(value: Any) -> Any:
        if isinstance(value, str):
            return int(datetime.fromisoformat(value).timestamp() * 1000)
        return value

    for key in ("StartTimestamp", "EndTimestamp"):
        if key in op:
            op[key] = ms(op[key])
    for details, key in (
        ("StepDetails", "NextAttemptTimestamp"),
        ("WaitDetails", "ScheduledEndTimestamp"),
    ):
        if details in op and key in op[details]:
            op[details][key] = ms(op[details][key])
    return op


async def drive(
    handler: Any,
    service: FakeService,
    arn: str,
    *,
    max_invocations: int = 50,
) -> list[dict[str, Any]]:
    """Invoke until the execution ends, jumping time to the next timer between invocations."""
    outputs: list[dict[str, Any]] = []
    for _ in range(max_invocations):
        output = await handler.run(service.event(arn), client=service)
        outputs.append(output)
        if output["Status"] != "PENDING":
            return outputs
        service.advance(_next_timer(service, arn))
    raise AssertionError(f"execution did not finish in {max_invocations} invocations")


def _next_timer(service: FakeService, arn: str) -> float:
    due: list[datetime] = []
    for op in service.operations(arn):
        if (
            op.status is OperationStatus.STARTED
            and op.wait_details
            and op.wait_details.scheduled_end_timestamp
        ):
            due.append(op.wait_details.scheduled_end_timestamp)
        if (
            op.status is OperationStatus.PENDING
            and op.step_details
            and op.step_details.next_attempt_timestamp
        ):
            due.append(op.step_details.next_attempt_timestamp)
    if not due:
        return 0.0
    return max(0.0, (min(due) - service.now).total_seconds())
