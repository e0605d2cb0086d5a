"""What the probe needs from an SDK adapter (standard library only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.fake_lambda import FakeLambdaApi

__all__ = ["Adapter", "LambdaContext", "NotAvailable"]

Handler = Callable[[Any, Any], Any]


class NotAvailable(Exception):
    """The SDK build under test lacks what the workload needs."""


class LambdaContext:
    """The attributes of the Lambda runtime's context object that SDKs read."""

    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "2026/01/01/[$LATEST]bench"
    tenant_id = None

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class Adapter:
    """Builds a workload's Lambda handler once per process (as a module import would)
    and routes the handler's service client to a fresh :class:`FakeLambdaApi` per run."""

    sdk: str = ""
    #: W6: the package a user imports, and the code that makes a deployable handler.
    package: str = ""
    handler_module_code: str = ""

    def handler(self, workload: str) -> Handler:
        raise NotImplementedError

    def bind(self, api: FakeLambdaApi) -> None:
        """Send the next invocation's service calls to ``api``."""
        raise NotImplementedError

    def invoke(self, handler: Handler, event: dict[str, Any]) -> dict[str, Any]:
        """Call the SDK's Lambda entry point exactly as the Lambda runtime would."""
        output: dict[str, Any] = handler(event, LambdaContext())
        return output
