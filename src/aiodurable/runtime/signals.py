"""Signals that end an invocation rather than fail an operation.

They are ``BaseException`` subclasses (or listed in :data:`FATAL_ERRORS`) so that user
code catching ``Exception`` cannot swallow them, and every layer above the runtime
re-raises them untouched.
"""

from __future__ import annotations

from aiodurable.errors import (
    CheckpointError,
    NonDeterministicError,
    OperationInStepError,
    PayloadUnavailableError,
)

__all__ = ["FATAL_ERRORS", "ProcessExit", "TokenRevoked"]


class TokenRevoked(BaseException):
    """The service revoked this invocation's token; the invocation ends PENDING."""


class ProcessExit(BaseException):
    """User code raised ``SystemExit``: unwinds the invocation without checkpointing.

    ``SystemExit`` itself would stop the event loop when it escapes a task.
    """

    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code


#: Errors that end the invocation rather than fail an operation.
FATAL_ERRORS: tuple[type[BaseException], ...] = (
    NonDeterministicError,
    OperationInStepError,
    TokenRevoked,
    CheckpointError,
    PayloadUnavailableError,
)
