"""A durable function written with AWS's official Python SDK (run from ``.venv-official``).

Not importable here: it runs in its own process, from its own virtualenv, as it would be
deployed (``python -m awslambdaric official_handlers.handler``).
"""

import os
from typing import Any

from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.context import DurableContext, StepContext, durable_step
from aws_durable_execution_sdk_python.execution import durable_execution


@durable_step
def double(_step_context: StepContext, number: int) -> int:
    return number * 2


@durable_execution
def handler(event: Any, context: DurableContext) -> Any:
    doubled: int = context.step(double(event["n"]))
    context.wait(Duration.from_seconds(2))  # suspends: the caller's invocation ends meanwhile
    return {"doubled": doubled, "sdk": "official", "pid": os.getpid()}
