"""Wrong input from workflow code: every mistake gets a clear, specific error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiodurable import DurableContext, durable_execution
from aiodurable.limits import MAX_OPERATION_PAYLOAD_BYTES
from aiodurable.serdes import MAX_PAYLOAD_CHARS

from ..service_harness import ServiceHarness


class Opaque:
    pass


async def opaque() -> Any:
    return Opaque()


async def huge() -> str:
    return "x" * (MAX_PAYLOAD_CHARS + 1)


async def value(v: int) -> int:
    return v


async def run(workflow: Any, service: ServiceHarness, arn: str) -> dict[str, Any]:
    output: dict[str, Any] = await workflow.run(service.event(arn), client=service)
    return output


def step_failure(service: ServiceHarness) -> Any:
    """The error the step's FAIL checkpoint recorded."""
    (failed,) = [u for c in service.calls for u in c.updates if u.type.value == "STEP" and u.error]
    return failed.error


async def test_unserializable_result_names_the_step_and_the_type() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        await ctx.step(opaque, name="make-thing")

    service = ServiceHarness()
    arn = service.start()
    output = await run(workflow, service, arn)
    assert output["Status"] == "FAILED"
    message = output["Error"]["ErrorMessage"]
    assert "make-thing" in message
    assert "Opaque" in message
    # The step fails (a StepError the workflow could catch), recording why.
    assert output["Error"]["ErrorType"] == "aiodurable.errors.StepError"
    assert step_failure(service).error_type == "aiodurable.errors.SerializationError"


async def test_oversized_result_gives_the_limit_and_the_size() -> None:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        await ctx.step(huge, name="dump")

    service = ServiceHarness()
    arn = service.start()
    output = await run(workflow, service, arn)
    message = output["Error"]["ErrorMessage"]
    assert output["Error"]["ErrorType"] == "aiodurable.errors.StepError"
    assert step_failure(service).error_type == "aiodurable.errors.ResultTooLargeError"
    assert "dump" in message
    assert str(MAX_PAYLOAD_CHARS + 3) in message  # the JSON text, quotes included
    assert str(MAX_OPERATION_PAYLOAD_BYTES) in message  # the service's per-operation limit
    # Nothing over the limit was sent to the service.
    assert all(
        len(u.payload or "") <= MAX_OPERATION_PAYLOAD_BYTES
        for c in service.calls
        for u in c.updates
    )


def versions() -> dict[str, Any]:
    """The first version, and changes of it that break replay."""

    async def original(event: Any, ctx: DurableContext) -> None:
        await ctx.step(value, 1, name="reserve")
        await ctx.step(value, 2, name="charge")
        await ctx.wait(60, name="settle")

    async def reordered(event: Any, ctx: DurableContext) -> None:
        await ctx.step(value, 2, name="charge")
        await ctx.step(value, 1, name="reserve")

    async def renamed(event: Any, ctx: DurableContext) -> None:
        await ctx.step(value, 1, name="reserve-stock")
        await ctx.step(value, 2, name="charge")

    async def removed(event: Any, ctx: DurableContext) -> None:
        await ctx.step(value, 2, name="charge")

    async def added_before(event: Any, ctx: DurableContext) -> None:
        await ctx.wait(5, name="throttle")
        await ctx.step(value, 1, name="reserve")

    return {
        "original": original,
        "reordered": (reordered, "'reserve'", "'charge'"),
        "renamed": (renamed, "'reserve'", "'reserve-stock'"),
        "removed": (removed, "'reserve'", "'charge'"),
        "added before": (added_before, "STEP", "WAIT"),
    }


async def test_replay_changes_are_detected_naming_expected_and_found() -> None:
    table = versions()
    for label, (changed, recorded, found) in [(k, v) for k, v in table.items() if k != "original"]:
        service = ServiceHarness()
        arn = service.start()
        first = await run(durable_execution(table["original"]), service, arn)
        assert first["Status"] == "PENDING"
        output = await run(durable_execution(changed), service, arn)
        assert output["Status"] == "FAILED", label
        message = output["Error"]["ErrorMessage"]
        assert output["Error"]["ErrorType"] == "aiodurable.errors.NonDeterministicError", label
        assert recorded in message, (label, message)
        assert found in message, (label, message)


NOT_DURABLE = """
from aiodurable import durable_execution

@durable_execution
async def handler(event, ctx):
    return "never runs"

handler({"order_id": "o-1"})  # what a plain `python app.py` or a wrong trigger does
"""


def test_outside_lambda_with_no_region_the_event_is_explained_before_any_client(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    ran = subprocess.run(
        [sys.executable, "-c", NOT_DURABLE], capture_output=True, text=True, env=env, timeout=60
    )
    assert ran.returncode == 1
    last = ran.stderr.strip().splitlines()[-1]
    assert last.startswith("aiodurable.errors.InvalidInvocationError: the event is not a durable")
    assert "NoRegionError" not in ran.stderr
