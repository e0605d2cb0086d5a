"""One Lambda invocation of a durable workflow (docs/protocol.md §1.7, §1.8, §5.11).

The invocation wires the pieces together and reads how it ended from one place, the
:class:`InvocationOutcome`: the scheduler reports a suspension, the checkpointer a revoked
token or a failed checkpoint, the operations a fatal error, and the workflow's own end
completes it.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec

from aiodurable.context import DurableContext, LoggingConfig
from aiodurable.errors import (
    CheckpointError,
    InvalidInvocationError,
    InvocationExitError,
    PayloadUnavailableError,
    error_object_from_exception,
)
from aiodurable.limits import escaped_bytes
from aiodurable.operations.base import operation_of
from aiodurable.plugins.dispatch import NO_PLUGINS, PluginSet
from aiodurable.runtime.checkpointer import Checkpointer, TokenRevoked
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.runtime.outcome import InvocationOutcome, OutcomeState
from aiodurable.runtime.replay_trace import ReplayTrace, trace_store
from aiodurable.runtime.scheduler import InvocationScheduler, unfinished_error
from aiodurable.runtime.signals import ProcessExit
from aiodurable.serdes import encode_json
from aiodurable.service.base import DurableServiceClient
from aiodurable.wire import (
    ErrorObject,
    InvocationInput,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationAction,
    OperationType,
    OperationUpdate,
)

__all__ = ["MAX_OUTPUT_CHARS", "decode_invocation", "run_invocation"]

#: Lambda's 6 MiB response limit less a margin, compared with the bytes of the response.
MAX_OUTPUT_CHARS = 6 * 1024 * 1024 - 50

#: Marks an ``InitialExecutionState`` whose timestamps were already turned into seconds.
_IN_SECONDS = "_aiodurableTimestampsInSeconds"


def _ms(value: Any) -> Any:
    cls = value.__class__
    return value / 1000 if cls is int or cls is float else value


def _timestamps_to_seconds(state: dict[str, Any], operations: list[Any]) -> None:
    """Turn the event's epoch-millisecond timestamps into seconds, in place.

    The Lambda event carries milliseconds, API responses seconds (docs/protocol.md §1.3). The
    event is ours to consume, so it is converted where it lies — copying thousands of
    operations would cost more than decoding them — and marked, so that handing the same
    event to the handler again does not convert it twice.
    """
    if state.get(_IN_SECONDS):
        return
    for op in operations:
        if op.__class__ is not dict:
            continue
        if "StartTimestamp" in op:
            op["StartTimestamp"] = _ms(op["StartTimestamp"])
        if "EndTimestamp" in op:
            op["EndTimestamp"] = _ms(op["EndTimestamp"])
        details = op.get("StepDetails")
        if details.__class__ is dict and "NextAttemptTimestamp" in details:
            details["NextAttemptTimestamp"] = _ms(details["NextAttemptTimestamp"])
        details = op.get("WaitDetails")
        if details.__class__ is dict and "ScheduledEndTimestamp" in details:
            details["ScheduledEndTimestamp"] = _ms(details["ScheduledEndTimestamp"])
    state[_IN_SECONDS] = True


def decode_invocation(event: Any) -> InvocationInput:
    """Decode the Lambda event into an :class:`InvocationInput`, or explain what is wrong.

    The event's timestamps are normalised to seconds in place (see
    :func:`_timestamps_to_seconds`).
    """
    if isinstance(event, (bytes, str)):
        try:
            event = msgspec.json.decode(event)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # not JSON, or not UTF-8
            raise InvalidInvocationError(f"the invocation event is not JSON: {exc}") from exc
    if (
        not isinstance(event, Mapping)
        or "DurableExecutionArn" not in event
        or ("CheckpointToken" not in event)
    ):
        raise InvalidInvocationError(
            "the event is not a durable execution invocation (no DurableExecutionArn / "
            "CheckpointToken). Configure the function with DurableConfig and start it "
            "through Lambda, or run it locally with aiodurable.testing.LocalRunner."
        )
    # Decoding thousands of operations allocates many objects at once: a collection in
    # the middle of it would only scan what is about to be kept.
    paused = gc.isenabled()
    gc.disable()
    try:
        state = event.get("InitialExecutionState")
        if isinstance(state, dict) and isinstance(state.get("Operations"), list):
            _timestamps_to_seconds(state, state["Operations"])
        return msgspec.convert(event, InvocationInput, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInvocationError(f"malformed invocation envelope: {exc}") from exc
    finally:
        if paused:
            gc.enable()


async def _load_operations(
    client: DurableServiceClient, envelope: InvocationInput
) -> dict[str, Operation]:
    state = envelope.initial_execution_state
    operations = {op.id: op for op in state.operations}
    marker = state.next_marker
    while marker:
        page = await client.get_state(
            envelope.durable_execution_arn, envelope.checkpoint_token, marker=marker
        )
        for op in page.operations:
            operations[op.id] = op
        marker = page.next_marker
    return operations


def _input_payload(execution_id: str, operations: dict[str, Operation]) -> str | None:
    op = operations.get(execution_id)
    if op is None:
        return None
    if op.type is not OperationType.EXECUTION:
        raise InvalidInvocationError(
            f"operation {execution_id} named by the execution ARN is a {op.type.value}, "
            "not the EXECUTION operation"
        )
    return op.execution_details.input_payload if op.execution_details else None


def _checkpoint_failure_output(error: CheckpointError) -> dict[str, Any]:
    return _output(
        InvocationOutput(
            status=InvocationStatus.FAILED,
            error=ErrorObject(
                error_type="aiodurable.errors.CheckpointError", error_message=str(error)
            ),
        )
    )


def _output(output: InvocationOutput) -> dict[str, Any]:
    return msgspec.to_builtins(output)  # type: ignore[no-any-return]


async def run_invocation(
    workflow: Callable[[Any, DurableContext], Awaitable[Any]],
    event: Any,
    client: DurableServiceClient,
    *,
    decode_input: Callable[[str | None], Any],
    logging: LoggingConfig | None = None,
    idle_flush_delay: float = 0.1,
    plugins: PluginSet = NO_PLUGINS,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Run the workflow for one invocation and build the output envelope.

    ``request_id`` is the Lambda request id the plugins see (a local id when ``None``).
    """
    envelope = decode_invocation(event)
    arn = envelope.durable_execution_arn
    try:
        operations = await _load_operations(client, envelope)
    except CheckpointError as exc:
        if exc.retryable:
            raise
        return _checkpoint_failure_output(exc)
    hooks = plugins.invocation(
        arn, operations, updated_ids=envelope.updated_operation_ids or (), request_id=request_id
    )
    store = trace_store(client)
    trace = ReplayTrace(store.replay_trace(arn)) if store is not None else None
    execution = InvocationState(
        arn, operations, hooks, trace, InvocationScheduler(InvocationOutcome())
    )
    payload = _input_payload(arn.rsplit("/", 1)[-1], operations)
    checkpointer = Checkpointer(
        client,
        arn,
        envelope.checkpoint_token,
        execution.merge,
        execution.outcome,
        idle_flush_delay=idle_flush_delay,
        on_queue=hooks.queued if hooks.enabled else None,
    )
    execution.attach(checkpointer)
    checkpointer.start()
    hooks.started()
    try:
        try:
            output = await _drive(workflow, execution, checkpointer, payload, decode_input, logging)
        finally:
            await checkpointer.close()
            if store is not None and trace is not None:
                trace.save(store, arn)
    except Exception as exc:  # the invocation fails and Lambda invokes again
        hooks.crashed(exc)
        raise
    hooks.ended(output)
    return output


async def _drive(
    workflow: Callable[[Any, DurableContext], Awaitable[Any]],
    execution: InvocationState,
    checkpointer: Checkpointer,
    payload: str | None,
    decode_input: Callable[[str | None], Any],
    logging: LoggingConfig | None,
) -> dict[str, Any]:
    scheduler = execution.scheduler
    outcome = execution.outcome

    async def run_workflow() -> Any:
        # Made in the root task: the context's own operations are the root task's.
        context = DurableContext(execution, logging=logging)
        try:
            value = await workflow(decode_input(payload), context)
        except SystemExit as exc:
            exit_ = ProcessExit(exc.code)
            execution.fail(exit_)
            raise exit_ from exc
        context._ensure_all_visited()
        unfinished = scheduler.unfinished_operations(operation_of)
        if unfinished and outcome.running:
            execution.fail(unfinished_error(unfinished))
        return value

    work, _ = await scheduler.run(run_workflow(), f"aiodurable-workflow {execution.arn}")
    # What the workflow returned or raised counts only if nothing ended the invocation
    # first: after a suspension it may have caught the cancellation and carried on.
    outcome.complete()
    if outcome.state is not OutcomeState.FATAL:
        await checkpointer.flush()
    return await _build_output(outcome, checkpointer, work)


async def _build_output(
    outcome: InvocationOutcome, checkpointer: Checkpointer, work: asyncio.Task[Any]
) -> dict[str, Any]:
    state = outcome.state
    if state is OutcomeState.SUSPENDED or state is OutcomeState.REVOKED:
        return _output(InvocationOutput(status=InvocationStatus.PENDING))
    if state is OutcomeState.FATAL:
        fatal = outcome.error
        assert fatal is not None
        if isinstance(fatal, TokenRevoked):
            return _output(InvocationOutput(status=InvocationStatus.PENDING))
        if isinstance(fatal, ProcessExit):
            raise InvocationExitError(
                f"the workflow exited (SystemExit: {fatal.code!r}); the invocation failed "
                "and will be invoked again"
            ) from fatal
        if isinstance(fatal, CheckpointError):
            if fatal.retryable:
                raise fatal
            return _checkpoint_failure_output(fatal)
        if isinstance(fatal, PayloadUnavailableError):
            raise fatal  # a store unreachable for now: the next invocation reads it again
        return await _failed(checkpointer, fatal)
    if work.cancelled():  # cancelled from outside the invocation
        raise asyncio.CancelledError
    error = work.exception()
    if error is not None:
        return await _failed(checkpointer, error)
    value = work.result()
    try:
        text = encode_json(value)
    except Exception as exc:
        return await _failed(checkpointer, exc)
    if escaped_bytes(text) + 40 <= MAX_OUTPUT_CHARS:  # the response escapes the text
        return _output(InvocationOutput(status=InvocationStatus.SUCCEEDED, result=text))
    # Too large for the Lambda response: complete the execution through a checkpoint.
    instead = await _complete_by_checkpoint(
        checkpointer,
        OperationUpdate(
            id=f"execution-result-{int(time.time() * 1000)}",
            type=OperationType.EXECUTION,
            action=OperationAction.SUCCEED,
            payload=text,
        ),
    )
    return instead or _output(InvocationOutput(status=InvocationStatus.SUCCEEDED, result=""))


async def _failed(checkpointer: Checkpointer, error: BaseException) -> dict[str, Any]:
    error_object = error_object_from_exception(error)
    output = InvocationOutput(status=InvocationStatus.FAILED, error=error_object)
    if len(msgspec.json.encode(output)) <= MAX_OUTPUT_CHARS:
        return _output(output)
    instead = await _complete_by_checkpoint(
        checkpointer,
        OperationUpdate(
            id=f"execution-result-{int(time.time() * 1000)}",
            type=OperationType.EXECUTION,
            action=OperationAction.FAIL,
            error=error_object,
        ),
    )
    return instead or _output(InvocationOutput(status=InvocationStatus.FAILED))


async def _complete_by_checkpoint(
    checkpointer: Checkpointer, update: OperationUpdate
) -> dict[str, Any] | None:
    """Complete the execution through an EXECUTION checkpoint (docs/protocol.md §1.6).

    Returns the output to use instead when that checkpoint could not be written.
    """
    try:
        await checkpointer.checkpoint(update)
    except TokenRevoked:
        return _output(InvocationOutput(status=InvocationStatus.PENDING))
    except CheckpointError as exc:
        if exc.retryable:
            raise
        return _checkpoint_failure_output(exc)
    return None
