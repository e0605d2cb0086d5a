"""aiodurable: an asyncio-native runtime for AWS Lambda durable functions."""

from aiodurable._version import __version__
from aiodurable.context import DurableContext, LoggingConfig
from aiodurable.errors import (
    ActionFailure,
    BatchCompletionError,
    CallbackError,
    CallbackFailedError,
    CallbackHeartbeatTimeoutError,
    CallbackResultError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    CheckpointError,
    ChildContextError,
    DurableError,
    DurableOperationError,
    InvalidInvocationError,
    InvocationExitError,
    InvokeError,
    NonDeterministicError,
    OperationInStepError,
    PayloadUnavailableError,
    SerializationError,
    StepError,
    StepInterruptedError,
    StepTimeoutError,
    TerminalScopeError,
    UnfinishedOperationError,
    ValidationError,
    WaitForConditionError,
)
from aiodurable.handler import DurableHandler, durable_execution
from aiodurable.operations.attempt import StepContext
from aiodurable.operations.batch_result import (
    BatchItem,
    BatchProgress,
    BatchResult,
    CompletionConfig,
    CompletionDecision,
    NamedBranch,
    Nesting,
)
from aiodurable.operations.callback import Callback
from aiodurable.operations.saga import Saga
from aiodurable.operations.terminal_scope import TerminalScope
from aiodurable.operations.wait_for_condition import WaitDecision, WaitStrategy
from aiodurable.operations.with_retry import with_retry
from aiodurable.plugins import Plugin
from aiodurable.retry import Jitter, RetryDecision, RetryStrategy, StepSemantics
from aiodurable.serdes import JsonSerdes, PassthroughSerdes, Serdes, SerdesContext

__all__ = [
    "__version__",
    "ActionFailure",
    "BatchCompletionError",
    "BatchItem",
    "BatchProgress",
    "BatchResult",
    "Callback",
    "CompletionConfig",
    "CompletionDecision",
    "NamedBranch",
    "Nesting",
    "WaitDecision",
    "WaitStrategy",
    "CallbackError",
    "CallbackFailedError",
    "CallbackHeartbeatTimeoutError",
    "CallbackResultError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointError",
    "ChildContextError",
    "DurableContext",
    "DurableError",
    "DurableHandler",
    "DurableOperationError",
    "InvalidInvocationError",
    "InvocationExitError",
    "InvokeError",
    "Jitter",
    "JsonSerdes",
    "LoggingConfig",
    "NonDeterministicError",
    "OperationInStepError",
    "UnfinishedOperationError",
    "PassthroughSerdes",
    "Plugin",
    "RetryDecision",
    "RetryStrategy",
    "PayloadUnavailableError",
    "SerializationError",
    "Serdes",
    "SerdesContext",
    "StepContext",
    "StepError",
    "StepInterruptedError",
    "StepSemantics",
    "StepTimeoutError",
    "Saga",
    "TerminalScope",
    "TerminalScopeError",
    "ValidationError",
    "WaitForConditionError",
    "durable_execution",
    "with_retry",
]
