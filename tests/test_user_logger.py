"""``ctx.logger`` the official SDK's way: ``extra={...}`` fields at the top level, and a
team's own standard-library-compatible logger plugged in (``set_logger``,
``LoggingConfig(logger=...)``), replay-aware like ours."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from aiodurable import DurableContext, LoggingConfig, StepContext, durable_execution

from .service_harness import ServiceHarness, drive


async def charge(order_id: str) -> str:
    StepContext.current().logger.info("charging", extra={"order_id": order_id})
    return f"ch-{order_id}"


@durable_execution
async def official_style(event: dict[str, str], ctx: DurableContext) -> str:
    ctx.logger.info("order received", extra={"order_id": event["order_id"], "amount": 42})
    receipt = await ctx.step(charge, event["order_id"], name="charge")
    await ctx.wait(10, name="settle")
    ctx.logger.warning("settled", extra={"receipt": receipt})
    return receipt


async def test_extra_fields_land_at_the_top_level_of_the_default_json_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = ServiceHarness()
    await drive(official_style, service, service.start('{"order_id": "o-1"}'))
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert [r["message"] for r in records] == ["order received", "charging", "settled"]
    received, charging, settled = records
    assert received["order_id"] == "o-1" and received["amount"] == 42
    assert "extra" not in received
    assert charging["order_id"] == "o-1" and charging["operationName"] == "charge"
    assert settled["receipt"] == "ch-o-1" and settled["level"] == "warning"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def team_logger() -> tuple[logging.Logger, Collect]:
    logger = logging.getLogger("team.orders")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    collect = Collect()
    logger.addHandler(collect)
    return logger, collect


async def test_a_stdlib_logger_in_logging_config_gets_message_and_fields_once_per_line(
    team_logger: tuple[logging.Logger, Collect],
) -> None:
    logger, collect = team_logger
    workflow = durable_execution(logging=LoggingConfig(logger=logger))(official_style.workflow)
    service = ServiceHarness()
    arn = service.start('{"order_id": "o-2"}')
    outputs = await drive(workflow, service, arn)

    assert len(outputs) == 2  # replayed once: the first two lines are not logged again
    got = [(r.levelname, r.getMessage()) for r in collect.records]
    assert got == [("INFO", "order received"), ("INFO", "charging"), ("WARNING", "settled")]
    received, charging, _ = collect.records
    assert received.__dict__["executionArn"] == arn
    assert received.__dict__["order_id"] == "o-2"
    assert charging.__dict__["operationName"] == "charge"
    assert charging.__dict__["attempt"] == 1


async def test_set_logger_sends_a_contexts_records_to_the_team_logger(
    team_logger: tuple[logging.Logger, Collect], capsys: pytest.CaptureFixture[str]
) -> None:
    logger, collect = team_logger

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> None:
        ctx.logger.info("before set_logger")  # the default JSON line
        ctx.set_logger(logger)  # the official SDK's call
        ctx.logger.info("after", extra={"name": "reserved by LogRecord"})
        try:
            raise KeyError("boom")
        except KeyError:
            ctx.logger.exception("failed")

        async def child(c: DurableContext) -> None:
            c.logger.info("from the child")

        await ctx.run_in_child_context(child, name="child")

    service = ServiceHarness()
    await drive(workflow, service, service.start())

    assert json.loads(capsys.readouterr().out)["message"] == "before set_logger"
    assert [r.getMessage() for r in collect.records] == ["after", "failed", "from the child"]
    after, failed, from_child = collect.records
    assert after.__dict__["name_"] == "reserved by LogRecord"  # not a KeyError
    assert failed.levelno == logging.ERROR and failed.exc_info is not None
    assert from_child.__dict__["parentId"]


def test_replay_suppression_reaches_a_powertools_logger_and_lambda_fields_stay() -> None:
    """Powertools' Logger as the team logger, with ``inject_lambda_context`` around the
    durable handler: its own lambda fields and ours share one JSON line, once."""
    from aws_lambda_powertools import Logger

    from aiodurable.lambda_context import LocalLambdaContext

    stream = io.StringIO()
    powertools = Logger(service="orders-replay", logger_handler=logging.StreamHandler(stream))
    service = ServiceHarness()

    @powertools.inject_lambda_context
    @durable_execution(client=service, logging=LoggingConfig(logger=powertools))
    async def handler(event: Any, ctx: DurableContext) -> str:
        ctx.logger.info("started", extra={"order_id": "o-3"})
        await ctx.wait(10, name="settle")
        ctx.logger.info("resumed")
        return "done"

    arn = service.start()
    statuses = []
    for _ in range(2):
        lambda_context = LocalLambdaContext(
            aws_request_id=f"req-{len(statuses)}",
            function_name="orders",
            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:orders",
            deadline=service.now,
            now=lambda: service.now,
        )
        statuses.append(handler(service.event(arn), lambda_context)["Status"])
        service.advance(10)

    assert statuses == ["PENDING", "SUCCEEDED"]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["started", "resumed"]
    started, resumed = lines
    assert started["order_id"] == "o-3" and started["executionArn"] == arn
    assert started["function_request_id"] == "req-0"  # Powertools' own field
    assert resumed["function_request_id"] == "req-1"
    assert started["service"] == "orders-replay" and started["level"] == "INFO"
