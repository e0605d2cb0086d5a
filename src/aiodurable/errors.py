"""The exceptions aiodurable raises.

Operation errors (``StepError``, ``ChildContextError`` …) are rebuilt from the
``ErrorObject`` stored in the checkpoint, so the first run and every replay raise the
same exception with the same ``error_type`` and message.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import ClassVar, Literal, Self

from aiodurable.wire import ErrorObject

__all__ = [
    "ActionFailure",
    "CallbackError",
    "CallbackFailedError",
    "CallbackHeartbeatTimeoutError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointError",
    "ChildContextError",
    "DurableError",
    "DurableOperationError",
    "ExecutionStoppedError",
    "InvalidInvocationError",
    "InvocationExitError",
    "InvokeError",
    "NonDeterministicError",
    "PayloadUnavailableError",
    "ResultTooLargeError",
    "SerializationError",
    "StepError",
    "StepInterruptedError",
    "StepTimeoutError",
    "TerminalScopeError",
    "ValidationError",
    "WaitForConditionError",
    "error_object_from_exception",
    "qualified_type_name",
]

# The service rejects an ErrorObject whose JSON exceeds 32,768 characters (docs/protocol.md §2.5).
_MAX_MESSAGE_CHARS = 16_384
_MAX_STACK_CHARS = 12_000


def qualified_type_name(cls: type[BaseException]) -> str:
    """``ValueError`` for builtins, ``package.module.Class`` otherwise (docs/protocol.md §7.2)."""
    module = cls.__module__
    if module == builtins.__name__:
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


class DurableError(Exception):
    """Base class of every exception aiodurable raises."""


class ValidationError(DurableError, ValueError):
    """An argument to a durable operation is invalid; nothing was checkpointed."""


class PluginLoadError(ValidationError):
    """A plugin named in ``DURABLE_EXECUTION_PLUGINS`` (or passed in ``plugins=``) cannot
    be used: not installed, ambiguous, or not a plugin or plugin factory. Raised when
    the handler is built, before any invocation."""


class OperationInStepError(ValidationError):
    """A durable operation was called from inside a step body.

    A step is one unit of user code whose result is checkpointed once; operations inside
    it would run again on every retry and have no place in the history. The execution
    fails at the call, in the invocation that made it.
    """


class UnfinishedOperationError(ValidationError):
    """The workflow returned while durable operations it called had not finished.

    An operation called and never awaited, or still running in a task the workflow did not
    wait for, would otherwise be lost without a trace. Await every operation (or the task,
    ``gather`` or ``TaskGroup`` that runs it) before the workflow returns.
    """


class InvalidInvocationError(DurableError):
    """The Lambda event is not a durable-execution invocation envelope."""


class SerializationError(DurableError):
    """A value could not be serialized or deserialized for a checkpoint."""


class PayloadUnavailableError(DurableError):
    """A stored value could not be read for now: its store is unreachable or failing.

    Replay needs the value, and a later attempt may well read it, so this ends the
    invocation, whatever the workflow code does with it: the handler raises it and the
    service invokes the function again, as it does after any failed invocation. An
    outage shorter than the service's retries of failed invocations costs only those
    invocations; one that outlasts them fails the execution with this error (the local
    backend retries ``max_invocation_attempts`` = 5 times, ``invocation_retry_delay`` =
    1 s apart; AWS does not publish its budget). A custom serdes raises it from
    ``deserialize`` for a failure that is not the value's fault; ``TimeoutError`` and
    ``ConnectionError`` from a serdes count as this too. A value that is gone for good is
    a ``SerializationError`` (``OffloadedPayloadMissingError``), which fails the execution.
    """


class ResultTooLargeError(DurableError):
    """A payload is over a service limit."""


class NonDeterministicError(DurableError):
    """The workflow did not replay the operations its checkpoints record.

    This fails the execution: the code changed under a running execution, or it branches
    on something that is not replay-safe (wall clock, randomness, unordered iteration).
    """


class InvocationExitError(DurableError):
    """Workflow code called ``sys.exit`` (or raised ``SystemExit``).

    On Lambda that ends the process: the invocation fails (``Runtime.ExitError``) and the
    service invokes the function again. aiodurable raises this from the handler instead,
    with nothing checkpointed for the interrupted work, so an embedding event loop (and
    the local backend) survives it with the same effect.
    """


class ExecutionStoppedError(DurableError):
    """The execution completed or was stopped; no further checkpoint is accepted."""


class CheckpointError(DurableError):
    """A call to the durable execution service failed.

    ``retryable`` errors (throttling, 5xx, network, a stale checkpoint token) make the
    invocation raise so that Lambda invokes the function again; the others fail the
    execution.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        operation: str = "CheckpointDurableExecution",
        execution_arn: str | None = None,
        error_code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.operation = operation
        self.execution_arn = execution_arn
        self.error_code = error_code
        self.status_code = status_code


class DurableOperationError(DurableError):
    """A durable operation failed; carries the original error's type and message."""

    #: Subclasses registered by the ``ErrorType`` they checkpoint as.
    _registry: ClassVar[dict[str, type[DurableOperationError]]] = {}
    default_message: ClassVar[str] = "Operation failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        error_type: str | None = None,
        error_data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)
        self.error_type = error_type
        self.error_data = error_data
        self.stack_trace = stack_trace

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        DurableOperationError._registry[qualified_type_name(cls)] = cls

    def __str__(self) -> str:
        # The message alone, as the official SDK prints it; the recorded type of the
        # original error stays in ``error_type``.
        return self.message

    @classmethod
    def from_error_object(cls, error: ErrorObject | None) -> Self:
        """Rebuild the exception a checkpointed failure stands for."""
        error = error or ErrorObject()
        return cls(
            error.error_message,
            error_type=error.error_type,
            error_data=error.error_data,
            stack_trace=error.stack_trace,
        )

    def to_error_object(self) -> ErrorObject:
        """The ``ErrorObject`` this error is checkpointed as."""
        return ErrorObject(
            error_type=qualified_type_name(type(self)),
            error_message=self.message,
            error_data=self.error_data,
            stack_trace=self.stack_trace,
        )


class StepError(DurableOperationError):
    """A step failed after its retries; ``error_type`` names the original exception."""

    default_message = "Step failed"


class StepTimeoutError(StepError):
    """A step attempt (or a wait_for_condition check) ran past its ``timeout=``.

    Raised inside the attempt, so the retry strategy sees it like any other error (list
    it in ``retryable_errors``, or leave it out to fail at once); when no retry is left
    the step raises it too, on the live run and on every replay.
    """

    default_message = "Step attempt timed out"

    def __init__(
        self,
        message: str | None = None,
        *,
        error_type: str | None = None,
        error_data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        super().__init__(
            message,
            error_type=error_type or qualified_type_name(StepTimeoutError),
            error_data=error_data,
            stack_trace=stack_trace,
        )


def step_error_from(error: ErrorObject | None) -> StepError:
    """The ``StepError`` a recorded step failure raises: ``StepTimeoutError`` when the
    last attempt timed out, so ``except StepTimeoutError`` works in the workflow too."""
    if error is not None and error.error_type == qualified_type_name(StepTimeoutError):
        return StepTimeoutError.from_error_object(error)
    return StepError.from_error_object(error)


class StepInterruptedError(DurableError):
    """An at-most-once step attempt started but its outcome was never recorded."""


class ChildContextError(DurableOperationError):
    """A child context (or a map/parallel branch) failed."""

    default_message = "Child context failed"


class BatchCompletionError(DurableOperationError):
    """``BatchResult.throw_if_error()`` of a batch that a ``should_complete`` predicate
    completed as failed (reason ``CUSTOM_COMPLETION_FAILED``) without a failed branch."""

    default_message = "Batch completed as failed"


class InvokeError(DurableOperationError):
    """A chained invoke failed, timed out or was stopped; ``error_type`` is the target's."""

    default_message = "Invoke failed"


class WaitForConditionError(DurableOperationError):
    """The check of a wait-for-condition raised, or the wait strategy gave up."""

    default_message = "Wait for condition failed"


class CallbackError(DurableOperationError):
    """Base class of callback failures."""

    default_message = "Callback failed"


class CallbackFailedError(CallbackError):
    """The callback was completed with a failure (or cancelled / stopped)."""

    default_message = "Callback failed"


class CallbackTimeoutError(CallbackError):
    """No result arrived before the callback's timeout."""

    default_message = "Callback timed out"


class CallbackHeartbeatTimeoutError(CallbackTimeoutError):
    """No heartbeat arrived within the callback's heartbeat timeout."""

    default_message = "Callback timed out on heartbeat"


class CallbackResultError(CallbackError):
    """The callback was answered with a payload that does not decode as the expected type.

    The workflow can catch it and ask again (a new callback); the answer is kept in the
    history as it was sent.
    """

    default_message = "Callback answer could not be decoded"


class CallbackSubmitterError(CallbackError):
    """The submitter of a wait_for_callback failed after its retries."""

    default_message = "Callback submitter failed"


@dataclass(frozen=True, slots=True)
class ActionFailure:
    """One action of a terminal scope that failed after its retries."""

    #: The action's step name.
    name: str | None
    kind: Literal["compensation", "cleanup"]
    error: StepError


class TerminalScopeError(DurableError):
    """Compensations or cleanups of a terminal scope failed.

    ``error`` is the scope's own error (also the ``__cause__``), or ``None`` when the
    scope succeeded and a cleanup failed; ``failures`` lists every action that failed,
    in the order they ran. The other actions still ran: one failed compensation does
    not stop the rest of the rollback. What the failed actions should have undone is
    still in place, so this error is raised instead of the scope's error, which a
    handler for the ordinary failure would otherwise treat as cleanly rolled back.
    """

    def __init__(
        self, scope: str | None, error: BaseException | None, failures: list[ActionFailure]
    ) -> None:
        listed = "; ".join(
            f"{f.kind} {f.name or '(unnamed)'!r}: {f.error.error_type or 'StepError'}: {f.error}"
            for f in failures
        )
        what = f"terminal scope {scope!r}" if scope else "a terminal scope"
        if error is None:
            head = f"{what} succeeded but {len(failures)} of its cleanup actions failed"
        else:
            head = (
                f"{what} failed ({type(error).__name__}: {error}) and {len(failures)} of its "
                "actions failed too"
            )
        super().__init__(
            f"{head}: {listed}. What they were to undo or release is still in place: run "
            "them by hand once the cause is fixed, or give them a retry strategy that "
            "outlasts the outage."
        )
        self.scope = scope
        self.error = error
        self.failures = failures


def _stack_lines(error: BaseException) -> list[str] | None:
    """The traceback of an exception raised by user code (see ``aiodurable.stack_trace``)."""
    from aiodurable.stack_trace import stack_lines  # only when something failed

    return stack_lines(error)


def error_object_from_exception(error: BaseException) -> ErrorObject:
    """The ``ErrorObject`` checkpointed for an exception that escaped user code."""
    if isinstance(error, DurableOperationError):
        obj = error.to_error_object()
    else:
        obj = ErrorObject(
            error_type=qualified_type_name(type(error)),
            error_message=str(error),
            stack_trace=_stack_lines(error),
        )
    message = obj.error_message
    if message is not None and len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS] + "… (truncated)"
    stack = obj.stack_trace
    if stack is not None and sum(len(line) for line in stack) > _MAX_STACK_CHARS:
        # Keep the innermost frames and the exception line: they say what failed.
        kept: list[str] = []
        total = 0
        for line in reversed(stack):
            total += len(line)
            if total > _MAX_STACK_CHARS:
                break
            kept.append(line)
        stack = ["… (outer frames truncated)", *reversed(kept)]
    if message is obj.error_message and stack is obj.stack_trace:
        return obj
    return ErrorObject(
        error_type=obj.error_type,
        error_message=message,
        error_data=obj.error_data,
        stack_trace=stack,
    )


def registered_error_class(error_type: str | None) -> type[DurableOperationError] | None:
    if error_type is None:
        return None
    return DurableOperationError._registry.get(error_type)
