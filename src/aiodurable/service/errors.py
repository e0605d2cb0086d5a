"""How a failed call to the durable execution API is classified (docs/protocol.md §5.9).

Two questions are answered for every failure:

* **retryable** — may a later invocation succeed? If so the invocation raises and Lambda
  invokes the function again; if not the execution fails.
* **transient** — may the *same request*, sent again now, succeed? Only throttling, 5xx
  and network failures are; the client retries those a few times before giving up. A
  stale checkpoint token is retryable but not transient: resending it cannot help.

Only :mod:`aiodurable.service.lambda_client` imports this module, so importing botocore
here keeps it off the cold-start path of code that never talks to AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    HTTPClientError,
    ParamValidationError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from aiodurable.errors import CheckpointError

__all__ = ["KMS_ERROR_CODES", "STALE_TOKEN_PREFIX", "Failure", "classify"]

#: Errors about the execution's KMS key: terminal whatever their HTTP status (often 502).
KMS_ERROR_CODES = frozenset(
    {
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
    }
)

#: How the service's message starts when the checkpoint token is no longer current.
STALE_TOKEN_PREFIX = "Invalid checkpoint token"


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified failure of one attempt of one API call."""

    retryable: bool
    transient: bool
    detail: str
    error_code: str | None = None
    status_code: int | None = None

    def to_error(self, operation: str, execution_arn: str, *, attempts: int) -> CheckpointError:
        """The :class:`CheckpointError` the runtime sees once the client stops trying."""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if self.retryable:
            outcome = (
                "The error is retryable: the invocation ends with an error so that "
                "Lambda invokes the function again, which replays from the last checkpoint."
            )
        else:
            outcome = "The error is not retryable: the execution fails."
        return CheckpointError(
            f"{operation} failed{tries} for execution {execution_arn}: {self.detail}. {outcome}",
            retryable=self.retryable,
            operation=operation,
            execution_arn=execution_arn,
            error_code=self.error_code,
            status_code=self.status_code,
        )


def classify(exc: BaseException) -> Failure:
    """Classify an exception raised by an aiobotocore call (docs/protocol.md §5.9)."""
    if isinstance(exc, ClientError):
        return _classify_response(exc.response)
    if isinstance(exc, HTTPClientError | BotoConnectionError):
        # Connection refused or reset, DNS, connect and read timeouts: the request may
        # not have reached the service, or its answer was lost. Resending is safe because
        # checkpoints carry a ClientToken and reading state has no side effect.
        return Failure(retryable=True, transient=True, detail=f"network error: {exc}")
    if isinstance(exc, ParamValidationError):
        # botocore rejected the request before sending it; the same request fails the same
        # way on every invocation, exactly like a 400 from the service would.
        return Failure(retryable=False, transient=False, detail=f"invalid request: {exc}")
    # No HTTP status (missing credentials, an unexpected library error): retryable per
    # docs/protocol.md §5.9, but nothing suggests that resending right away would help.
    return Failure(retryable=True, transient=False, detail=f"{type(exc).__name__}: {exc}")


def _classify_response(response: dict[str, Any]) -> Failure:
    error = response.get("Error") or {}
    code: str | None = error.get("Code") or None
    message: str = error.get("Message") or ""
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    status = status if isinstance(status, int) else None
    detail = f"{code or 'error'} (HTTP {status if status is not None else 'status unknown'})"
    if message:
        detail += f": {message}"

    def failure(*, retryable: bool, transient: bool) -> Failure:
        return Failure(retryable, transient, detail, error_code=code, status_code=status)

    if code in KMS_ERROR_CODES:
        return failure(retryable=False, transient=False)
    if status == 429 or code == "TooManyRequestsException":
        return failure(retryable=True, transient=True)
    if code == "InvalidParameterValueException" and message.startswith(STALE_TOKEN_PREFIX):
        return failure(retryable=True, transient=False)
    if status is not None and 400 <= status < 500:
        return failure(retryable=False, transient=False)
    # 5xx, or a response without a usable status.
    return failure(retryable=True, transient=True)
