"""How handler log lines reach the log expectations: filed per execution, in order."""

from __future__ import annotations

import io
import json

from aiodurable import DurableContext, LoggingConfig, durable_execution
from aiodurable.testing import LocalRunner

from .execution_logs import ExecutionLogs

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/a/b"
OTHER = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/c/d"


def messages(logs: ExecutionLogs, arn: str) -> list[str]:
    return [json.loads(event["message"])["message"] for event in logs.events(arn)]


def test_a_line_is_filed_under_the_execution_arn_it_carries() -> None:
    logs = ExecutionLogs()
    logs.write(json.dumps({"executionArn": ARN, "message": "from ctx.logger"}))
    logs.write(json.dumps({"durableExecutionArn": OTHER, "message": "from a plugin"}))

    assert messages(logs, ARN) == ["from ctx.logger"]
    assert messages(logs, OTHER) == ["from a plugin"]


def test_lines_naming_no_execution_are_dropped_as_the_cloudwatch_filter_drops_them() -> None:
    logs = ExecutionLogs()
    logs.write("plain text")
    logs.write(json.dumps({"message": "no arn"}))
    logs.write(json.dumps(["not", "an", "object"]))

    assert logs.events(ARN) == []


def test_events_are_in_write_order_with_distinct_timestamps() -> None:
    logs = ExecutionLogs()
    for n in range(3):
        logs.write_record({"durableExecutionArn": ARN, "message": f"line {n}"})

    events = logs.events(ARN)
    assert messages(logs, ARN) == ["line 0", "line 1", "line 2"]
    stamps = [event["timestamp"] for event in events]
    assert stamps == sorted(set(stamps))


async def test_a_handler_logging_config_writes_its_records_to_the_collector() -> None:
    logs = ExecutionLogs()

    @durable_execution(logging=LoggingConfig(logger=logs.logger()))
    async def workflow(event: str, ctx: DurableContext) -> str:
        ctx.logger.info(f"hello {event}")
        return event

    async with LocalRunner[str](workflow) as runner:
        run = await runner.run("world")

    assert messages(logs, run.arn) == ["hello world"]


def test_every_line_is_printed_to_stdout_as_a_lambda_function_prints_it() -> None:
    out = io.StringIO()
    logs = ExecutionLogs(stdout=out)
    logs.write(json.dumps({"executionArn": ARN, "message": "filed and printed"}))
    logs.write("plain text")

    printed = out.getvalue().splitlines()
    assert printed == [
        json.dumps({"executionArn": ARN, "message": "filed and printed"}),
        "plain text",
    ]
    assert messages(logs, ARN) == ["filed and printed"]


async def test_a_handlers_records_reach_its_stdout_in_the_order_they_are_filed() -> None:
    out = io.StringIO()
    logs = ExecutionLogs(stdout=out)

    @durable_execution(logging=LoggingConfig(logger=logs.logger()))
    async def workflow(event: str, ctx: DurableContext) -> str:
        ctx.logger.info("first")
        ctx.logger.info("second")
        return event

    async with LocalRunner[str](workflow) as runner:
        run = await runner.run("x")

    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["message"] for r in printed if r.get("executionArn") == run.arn] == [
        "first",
        "second",
    ]
    assert [e["message"] for e in logs.events(run.arn)] == out.getvalue().splitlines()
