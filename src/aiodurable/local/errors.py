"""Errors of the local backend's API, each carrying the service's error code."""

from __future__ import annotations

from aiodurable.errors import CheckpointError, DurableError

__all__ = [
    "BackendClosedError",
    "CallbackExpiredError",
    "ExecutionAlreadyStartedError",
    "ExecutionStalledError",
    "InvalidParameterError",
    "ResourceConflictError",
    "ResourceNotFoundError",
    "ServiceError",
    "invalid_checkpoint",
    "stale_token",
]


class ServiceError(DurableError):
    """A call to the local backend's API was refused; ``code`` is the AWS error code."""

    code = "ServiceException"
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameterError(ServiceError):
    """The request is invalid (``InvalidParameterValueException``, 400)."""

    code = "InvalidParameterValueException"
    status_code = 400


class ResourceNotFoundError(ServiceError):
    """No such execution, callback or function (404)."""

    code = "ResourceNotFoundException"
    status_code = 404


class ResourceConflictError(ServiceError):
    """The execution is not in a state that allows the request (409), e.g. pausing an
    execution that already ended or deleting one that still runs."""

    code = "ResourceConflictException"
    status_code = 409


class CallbackExpiredError(ServiceError):
    """The callback already timed out (``CallbackTimeoutException``)."""

    code = "CallbackTimeoutException"
    status_code = 400


class ExecutionAlreadyStartedError(ServiceError):
    """An execution with this name exists with another input (409)."""

    code = "DurableExecutionAlreadyStartedException"
    status_code = 409


class BackendClosedError(DurableError):
    """The backend is not running: use it inside ``async with LocalBackend(...)``."""


class ExecutionStalledError(DurableError):
    """Nothing can make the execution progress: it waits for something nobody sends."""


def invalid_checkpoint(message: str, arn: str | None = None) -> CheckpointError:
    """A rejected update: terminal for the invocation, as the service's 400 is."""
    return CheckpointError(
        message,
        retryable=False,
        execution_arn=arn,
        error_code=InvalidParameterError.code,
        status_code=InvalidParameterError.status_code,
    )


def stale_token(
    reason: str, arn: str | None = None, *, operation: str | None = None
) -> CheckpointError:
    """A checkpoint token that is not current: retryable, the next invocation gets a new one."""
    return CheckpointError(
        f"Invalid checkpoint token: {reason}",
        retryable=True,
        operation=operation or "CheckpointDurableExecution",
        execution_arn=arn,
        error_code=InvalidParameterError.code,
        status_code=InvalidParameterError.status_code,
    )
