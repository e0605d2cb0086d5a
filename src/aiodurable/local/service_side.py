"""The service side of ``CheckpointDurableExecution`` and ``GetDurableExecutionState``.

Token checks (one current token per running invocation, chained by every checkpoint),
idempotency by client token, validation, applying the updates, committing them before
the answer, and the answer itself: the next token and the delta of changed operations.
State is read in pages of at most 1,000 operations and 5 MB.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Sequence

import msgspec

from aiodurable.errors import CheckpointError
from aiodurable.local.changes import Changes
from aiodurable.local.clock import Clock
from aiodurable.local.errors import InvalidParameterError, ResourceNotFoundError, stale_token
from aiodurable.local.execution import Execution
from aiodurable.local.lifecycle import Lifecycle
from aiodurable.local.pausing import withhold_checkpoint
from aiodurable.local.records import ExecutionRecord, ExecutionStatus, InvokeLink
from aiodurable.local.registry import Registry
from aiodurable.local.timers import fire_timers
from aiodurable.local.updates import apply_update
from aiodurable.local.validation import parse_count, parse_function_name, validate_updates
from aiodurable.wire import (
    CheckpointResponse,
    ErrorObject,
    ExecutionState,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

__all__ = ["ServiceSide", "page"]

_MAX_PAGE_BYTES = 5 * 1024 * 1024


class ServiceSide:
    """Answers the checkpoint and state calls of running invocations."""

    def __init__(
        self,
        registry: Registry,
        lifecycle: Lifecycle,
        clock: Clock,
        changes: Changes,
        callback_started: Callable[[str, Operation], None],
        *,
        replay_check: bool,
    ) -> None:
        self._registry = registry
        self._lifecycle = lifecycle
        self._clock = clock
        self._changes = changes
        self._callback_started = callback_started
        self.replay_check = replay_check
        #: Executions whose token a replay-check checkpoint withheld.
        self._revoked: set[str] = set()
        #: ARN → (client token, checkpoint token, response) of the last checkpoint.
        self._client_tokens: dict[str, tuple[str, str, CheckpointResponse]] = {}

    # -- tokens ----------------------------------------------------------------------------
    def new_token(self, record: ExecutionRecord) -> str:
        """Issue the next token of the execution; the previous one is spent."""
        record.token_seq += 1
        raw = f"{record.arn}\n{record.token_seq}\n{secrets.token_hex(8)}"
        record.token = base64.b64encode(raw.encode()).decode()
        return record.token

    def invocation_ended(self, arn: str) -> bool:
        """Forget the invocation's tokens; whether a replay check withheld its token."""
        revoked = arn in self._revoked
        self._revoked.discard(arn)
        self._client_tokens.pop(arn, None)
        return revoked

    def _check_token(self, ex: Execution, token: str, operation: str) -> None:
        record = ex.record
        if record.token is not None and token == record.token:
            return
        try:
            owner = base64.b64decode(token, validate=True).decode().split("\n", 1)[0]
        except (ValueError, UnicodeDecodeError):
            owner = None
        if owner is not None and owner != ex.arn and self._registry.record(owner) is not None:
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

    def _lookup(self, arn: str, operation: str) -> Execution:
        ex = self._registry.find(arn)
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

    # -- CheckpointDurableExecution --------------------------------------------------------
    def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        *,
        client_token: str | None = None,
    ) -> CheckpointResponse:
        """Validate, apply, commit, answer with a delta: one atomic step."""
        ex = self._lookup(execution_arn, "CheckpointDurableExecution")
        cached = self._client_tokens.get(execution_arn)
        if client_token and cached and cached[:2] == (client_token, checkpoint_token):
            return cached[2]
        self._check_token(ex, checkpoint_token, "CheckpointDurableExecution")
        now = self._clock.now()
        fire_timers(ex, now)  # timers due now are visible to this very call (docs/protocol.md §2.6)
        if not ex.running:
            self._lifecycle.settle(ex)
            raise stale_token(f"execution {ex.arn} has ended", ex.arn)
        updates = list(updates)
        registry = self._registry
        try:
            validate_updates(
                ex.operations, updates, region=registry.region, account=registry.account
            )
        except CheckpointError as exc:
            exc.execution_arn = ex.arn
            self._lifecycle.settle(ex)
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
                target, link = self._resolve(u)
                if link is None:
                    unresolved.append((u.id, target))
                else:
                    record.invokes[u.id] = link
                    children.append((u.id, link))
            elif u.type is OperationType.CALLBACK:
                new_callbacks.append(u.id)
            apply_update(ex, u, now)
        for op_id, target in unresolved:
            ex.complete_invoke(
                op_id,
                OperationStatus.FAILED,
                now,
                result=None,
                error=ErrorObject(
                    error_type=ResourceNotFoundError.code,
                    error_message=f"Function not found: {registry.function_arn(target)}",
                ),
                external=False,
            )
        token: str | None = None
        paused = False
        if ex.running:
            if withhold_checkpoint(ex, now):
                # Stored, but answered with neither token nor operations: the invocation
                # ends PENDING and the resumed execution is invoked again.
                paused = True
                record.token = None
                self._revoked.add(ex.arn)
            elif self.replay_check and _records_progress(updates):
                record.token = None
                self._revoked.add(ex.arn)
            else:
                token = self.new_token(record)
        delta = [] if paused else [ex.operations[i] for i in record.delta_ids if i in ex.operations]
        record.delta_ids = []
        for op_id in new_callbacks:
            details = ex.operations[op_id].callback_details
            if details is not None and details.callback_id:
                registry.callbacks[details.callback_id] = (ex.arn, op_id)
        registry.save(ex)  # durable before it is acknowledged
        if not ex.running:
            self._lifecycle.report_end(ex)
        if record.invocation_started is None:  # no invocation of ours in flight
            for op_id, link in children:
                self._lifecycle.dispatch(ex, op_id, link)
        # Otherwise the targets start when the invocation ends (Invoker.end): the
        # service's asynchronous invoke is never faster than a suspension, and locally
        # the target would share the caller's event loop and race it.
        for op_id in new_callbacks:
            self._callback_started(ex.arn, ex.operations[op_id])
        self._changes.kick()
        response = CheckpointResponse(
            checkpoint_token=token, new_execution_state=ExecutionState(operations=delta)
        )
        if client_token and not paused:
            self._client_tokens[ex.arn] = (client_token, checkpoint_token, response)
        return response

    def _resolve(self, u: OperationUpdate) -> tuple[str, InvokeLink | None]:
        """A chained invoke's function name, and its link (``None``: not registered)."""
        assert u.chained_invoke_options is not None
        registry = self._registry
        target, _ = parse_function_name(
            u.chained_invoke_options.function_name,
            region=registry.region,
            account=registry.account,
        )
        function = registry.functions.get(target)
        if function is None:
            return target, None
        child_arn = registry.new_arn(target, uuid.uuid4().hex) if function.durable else None
        return target, InvokeLink(function_name=target, payload=u.payload, child_arn=child_arn)

    # -- GetDurableExecutionState ----------------------------------------------------------
    def get_state(
        self, execution_arn: str, checkpoint_token: str, *, marker: str | None, max_items: int
    ) -> ExecutionState:
        """One page of operations; the token is not spent."""
        ex = self._lookup(execution_arn, "GetDurableExecutionState")
        self._check_token(ex, checkpoint_token, "GetDurableExecutionState")
        start = _parse_marker(marker)
        if not 0 <= max_items <= 1000:
            raise _invalid_state_call(f"MaxItems must be 0..1000, got {max_items}")
        operations, next_marker = page(list(ex.operations.values()), start, max_items or 100)
        return ExecutionState(operations=operations, next_marker=next_marker)


def page(ops: list[Operation], start: int, max_items: int) -> tuple[list[Operation], str | None]:
    """Operations from ``start``: at most ``max_items`` and 5 MB; and the next marker."""
    taken: list[Operation] = []
    size = 0
    index = start
    while index < len(ops) and len(taken) < max_items:
        op_size = len(msgspec.json.encode(op := ops[index]))
        if taken and size + op_size > _MAX_PAGE_BYTES:
            break
        taken.append(op)
        size += op_size
        index += 1
    return taken, (str(index) if index < len(ops) else None)


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
