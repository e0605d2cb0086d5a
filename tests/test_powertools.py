"""Powertools for AWS Lambda (the real package) around a durable handler: Logger with
``inject_lambda_context``, Tracer and Metrics, in the decorator order docs/powertools-and-pydantic.md
gives, across a suspension and a replay.

The handler is the sync Lambda entry point, invoked the way Lambda's runtime does (event
envelope and a Lambda context) against the local service, twice: the wait suspends the
first invocation, the second replays and finishes.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from aiodurable import DurableContext, LoggingConfig, StepContext, durable_execution
from aiodurable.lambda_context import LocalLambdaContext

from .service_harness import ServiceHarness


class CaptureEmitter:
    """An X-Ray emitter keeping what it would send to the daemon."""

    def __init__(self) -> None:
        self.entities: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.entities.append(entity.to_dict())

    def set_daemon_address(self, address: str | None) -> None:
        pass

    @property
    def ip(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return 2000


@pytest.fixture
def lambda_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[CaptureEmitter]:
    """What Lambda's runtime sets (Tracer only traces inside Lambda), with X-Ray's
    output captured instead of sent to a daemon."""
    from aws_lambda_powertools import Tracer
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.lambda_launcher import LambdaContext

    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Shop")
    Tracer._reset_config()
    emitter = CaptureEmitter()
    previous = xray_recorder.emitter, xray_recorder.context
    # The recorder picks its Lambda context at import, before this fixture set the
    # environment: give it the one Lambda's runtime would have.
    xray_recorder.configure(emitter=emitter, context=LambdaContext())
    yield emitter
    xray_recorder.configure(emitter=previous[0], context=previous[1])
    Tracer._reset_config()


# The second invocation adds no metric (the step replays): Powertools says so.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_logger_tracer_and_metrics_wrap_a_durable_handler_across_a_replay(
    lambda_environment: CaptureEmitter, capsys: pytest.CaptureFixture[str]
) -> None:
    from aws_lambda_powertools import Logger, Metrics, Tracer
    from aws_lambda_powertools.metrics import MetricUnit

    stream = io.StringIO()
    logger = Logger(service="orders-traced", logger_handler=logging.StreamHandler(stream))
    # auto_patch=False: patching botocore & co. is process-wide, other tests share it
    tracer = Tracer(service="orders", auto_patch=False)
    metrics = Metrics(service="orders")
    service = ServiceHarness()

    @tracer.capture_method
    async def charge(order_id: str) -> str:
        tracer.put_annotation("order_id", order_id)
        metrics.add_metric(name="Charged", unit=MetricUnit.Count, value=1)
        StepContext.current().logger.info("charging", extra={"order_id": order_id})
        return f"ch-{order_id}"

    # The order docs/powertools-and-pydantic.md gives: durable_execution innermost (it turns the
    # workflow into the Lambda handler), Powertools' handler decorators outside it.
    @logger.inject_lambda_context
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    @durable_execution(client=service, logging=LoggingConfig(logger=logger))
    async def handler(event: dict[str, Any], ctx: DurableContext) -> str:
        ctx.logger.info("order received")
        receipt = await ctx.step(charge, event["order_id"], name="charge")
        await ctx.wait(60, name="settle")
        ctx.logger.info("order settled", extra={"receipt": receipt})
        return receipt

    arn = service.start('{"order_id": "o-9"}')
    outputs = []
    for invocation in range(2):
        lambda_context = LocalLambdaContext(
            aws_request_id=f"req-{invocation}",
            function_name="orders",
            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:orders",
            deadline=service.now,
            now=lambda: service.now,
        )
        outputs.append(handler(service.event(arn), lambda_context))
        service.advance(60)

    try:
        assert [o["Status"] for o in outputs] == ["PENDING", "SUCCEEDED"]
        assert outputs[-1]["Result"] == '"ch-o-9"'

        # Logger: each line once (replay suppressed), Powertools' and our fields together
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [(line["message"], line["function_request_id"]) for line in lines] == [
            ("order received", "req-0"),
            ("charging", "req-0"),
            ("order settled", "req-1"),
        ]
        assert all(line["executionArn"] == arn for line in lines)
        assert lines[1]["operationName"] == "charge" and lines[1]["order_id"] == "o-9"
        assert "cold_start" in lines[0] and lines[2]["cold_start"] is False  # process-wide

        # Tracer: a handler subsegment per invocation; the step's only when it ran
        names = [entity["name"] for entity in lambda_environment.entities]
        assert names.count("## handler") == 2
        charged = [e for e in lambda_environment.entities if e["name"].endswith("charge")]
        assert len(charged) == 1 and charged[0]["annotations"]["order_id"] == "o-9"

        # Metrics: one EMF blob with Charged=1 (the replay did not count it again)
        blobs = [
            json.loads(line)
            for line in capsys.readouterr().out.splitlines()
            if line.startswith("{") and '"_aws"' in line
        ]
        charged_values = [blob["Charged"] for blob in blobs if "Charged" in blob]
        assert charged_values in ([[1.0]], [1.0])
        assert blobs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Shop"
    finally:
        metrics.clear_metrics()
