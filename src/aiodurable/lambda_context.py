"""The Lambda context object of an invocation, as ``ctx.lambda_context`` hands it out.

On Lambda it is the runtime's own object. The local backend passes a
:class:`LocalLambdaContext` with the same attributes, whose remaining time counts down
on the backend's clock (virtual time included) from Lambda's maximum timeout, so a
workflow that sizes its work by the time left runs the same way in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

__all__ = ["LAMBDA_MAX_TIMEOUT", "LambdaContext", "LocalLambdaContext", "current_lambda_context"]

#: Lambda's longest function timeout: what the local backend gives every invocation.
LAMBDA_MAX_TIMEOUT = timedelta(minutes=15)


class LambdaContext(Protocol):
    """The attributes of Lambda's context object that workflows read."""

    aws_request_id: str
    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int | str
    log_group_name: str
    log_stream_name: str

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda stops this invocation."""
        ...


#: The Lambda context of the invocation running in this task: the handler sets it
#: around an invocation, and the workflow's root context reads it when it is built.
current_lambda_context: ContextVar[Any] = ContextVar("aiodurable_lambda_context", default=None)


@dataclass(frozen=True)
class LocalLambdaContext:
    """A Lambda context for invocations the local backend makes.

    >>> ctx.lambda_context.get_remaining_time_in_millis()  # doctest: +SKIP
    899998
    """

    aws_request_id: str
    function_name: str
    invoked_function_arn: str
    #: When the invocation must end (its start plus :data:`LAMBDA_MAX_TIMEOUT`).
    deadline: datetime
    #: The backend's clock (virtual or real).
    now: Callable[[], datetime]
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    log_group_name: str = ""
    log_stream_name: str = ""

    def __post_init__(self) -> None:
        if not self.log_group_name:
            object.__setattr__(self, "log_group_name", f"/aws/lambda/{self.function_name}")
        if not self.log_stream_name:
            object.__setattr__(self, "log_stream_name", f"local/[$LATEST]{self.aws_request_id}")

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the deadline on the backend's clock (0 once past)."""
        left = (self.deadline - self.now()).total_seconds()
        return max(0, int(left * 1000))
