"""What the OpenTelemetry plugin promises beyond AWS's requirements: one trace however
many sandboxes run an execution, parenting into the trace Lambda passes in, log records
that name their span, and a refusal of what it cannot do."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiodurable import DurableContext, LoggingConfig, StepContext, durable_execution
from aiodurable.otel import (
    OpenTelemetryPlugin,
    execution_trace_id,
    operation_span_id,
    parse_xray_header,
    workflow_span_id,
)
from aiodurable.testing import LocalRunner
from tests.service_harness import ServiceHarness, drive

XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
XRAY_TRACE = 0x5759E988BD862E3FE1BE46A994272793
XRAY_PARENT = 0x53995C3F42CD8AD8


async def _workflow(event: Any, ctx: DurableContext) -> str:
    await ctx.step(lambda: "a", name="a")
    await ctx.wait(60, name="w")
    return await ctx.step(lambda: "b", name="b")


def _sandbox(exporter: InMemorySpanExporter, view: str, **options: Any) -> Any:
    """A handler as one Lambda sandbox has it: its own provider, plugin and handler."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    plugin = OpenTelemetryPlugin(view=view, tracer_provider=provider, **options)  # type: ignore[arg-type]
    return durable_execution(plugins=[plugin])(_workflow)


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_time or 0)


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


@pytest.mark.parametrize("view", ["execution", "invocation"])
async def test_two_sandboxes_running_one_execution_write_one_trace(view: str) -> None:
    exporter = InMemorySpanExporter()
    first, second = _sandbox(exporter, view), _sandbox(exporter, view)
    service = ServiceHarness()
    arn = service.start()

    assert (await first.run(service.event(arn), client=service))["Status"] == "PENDING"
    service.advance(60)
    assert (await second.run(service.event(arn), client=service))["Status"] == "SUCCEEDED"

    spans = exporter.get_finished_spans()
    started = service.backend.describe(arn).start_timestamp
    assert {s.context.trace_id for s in spans} == {execution_trace_id(arn, started)}
    (workflow,) = _named(spans, "Workflow")
    assert workflow.context.span_id == workflow_span_id(arn)
    ids = {op.name: op.id for op in service.operations(arn)}
    waits = _named(spans, "w")
    if view == "execution":  # one span per operation, under the Workflow
        assert [s.context.span_id for s in waits] == [operation_span_id(arn, ids["w"])]
        assert {_parent_id(s) for s in _named(spans, "a") + _named(spans, "b")} == {
            workflow.context.span_id
        }
    else:  # the second sandbox's span of the wait continues the first one's
        opened, closed = waits
        assert opened.context.span_id == operation_span_id(arn, ids["w"])
        assert closed.links[0].context.span_id == opened.context.span_id


async def test_the_spans_join_the_trace_lambda_passed_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", XRAY_HEADER)
    exporter = InMemorySpanExporter()
    handler = _sandbox(exporter, "execution")
    service = ServiceHarness()

    await drive(handler, service, service.start())

    spans = exporter.get_finished_spans()
    assert {s.context.trace_id for s in spans} == {XRAY_TRACE}
    (workflow,) = _named(spans, "Workflow")
    assert _parent_id(workflow) == XRAY_PARENT
    assert {_parent_id(s) for s in _named(spans, "Invocation")} == {XRAY_PARENT}


async def test_a_current_span_of_the_same_trace_parents_the_invocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the ADOT layer does: it opens a span for the Lambda invocation, in Lambda's trace.
    monkeypatch.setenv("_X_AMZN_TRACE_ID", XRAY_HEADER)
    exporter = InMemorySpanExporter()
    handler = _sandbox(exporter, "invocation")
    service = ServiceHarness()
    arn = service.start()
    lambda_tracer = TracerProvider().get_tracer("lambda")
    incoming = trace.set_span_in_context(trace.NonRecordingSpan(parse_xray_header(XRAY_HEADER)))  # type: ignore[arg-type]

    with lambda_tracer.start_as_current_span("lambda", context=incoming) as lambda_span:
        await handler.run(service.event(arn), client=service)

    (invocation,) = _named(exporter.get_finished_spans(), "Invocation")
    assert _parent_id(invocation) == lambda_span.get_span_context().span_id


async def test_log_records_carry_the_ids_of_the_span_they_were_written_in() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    lines = io.StringIO()

    def charge() -> str:
        StepContext.current().logger.info("charging")
        return "receipt"

    @durable_execution(
        plugins=[OpenTelemetryPlugin(tracer_provider=provider)],
        logging=LoggingConfig(logger=structlog.PrintLogger(lines)),
    )
    async def handler(event: Any, ctx: DurableContext) -> str:
        ctx.logger.info("starting")
        return await ctx.step(charge, name="charge")

    service = ServiceHarness()
    await drive(handler, service, service.start())

    records = {r["message"]: r for r in map(json.loads, lines.getvalue().splitlines())}
    spans = exporter.get_finished_spans()
    (invocation,) = _named(spans, "Invocation")
    (attempt,) = _named(spans, "charge attempt 1")
    assert records["starting"]["spanId"] == format(invocation.context.span_id, "016x")
    assert records["charging"]["spanId"] == format(attempt.context.span_id, "016x")
    assert {r["traceId"] for r in records.values()} == {format(attempt.context.trace_id, "032x")}


async def test_without_an_sdk_provider_the_workflow_runs_untraced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = durable_execution(
        plugins=[OpenTelemetryPlugin(tracer_provider=trace.NoOpTracerProvider())]
    )(_workflow)
    service = ServiceHarness()

    with caplog.at_level(logging.WARNING, logger="aiodurable.plugins"):
        outputs = await drive(handler, service, service.start())

    assert outputs[-1]["Status"] == "SUCCEEDED"
    assert [r.getMessage() for r in caplog.records] == []


def test_an_unknown_view_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"view='workflow'.*'execution' or 'invocation'"):
        OpenTelemetryPlugin(view="workflow")  # type: ignore[arg-type]


def test_an_xray_header_without_a_parent_still_names_the_trace() -> None:
    context = parse_xray_header("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0")
    assert context is not None
    assert (context.trace_id, context.span_id, context.trace_flags.sampled) == (
        XRAY_TRACE,
        0,
        False,
    )
    assert parse_xray_header("Self=1-abc") is None


@pytest.mark.parametrize("sync", [True, False], ids=["sync step", "async step"])
async def test_spans_made_inside_a_step_nest_under_its_attempt(sync: bool) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    library = provider.get_tracer("an instrumented library")

    def call_api() -> str:
        with library.start_as_current_span("GET /stock"):
            return "ok"

    async def call_api_async() -> str:
        return call_api()

    @durable_execution(plugins=[OpenTelemetryPlugin(tracer_provider=provider)])
    async def handler(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(call_api if sync else call_api_async, name="check-stock")

    service = ServiceHarness()
    await drive(handler, service, service.start())

    spans = exporter.get_finished_spans()
    (request,) = _named(spans, "GET /stock")
    (attempt,) = _named(spans, "check-stock attempt 1")
    assert _parent_id(request) == attempt.context.span_id
    assert request.context.trace_id == attempt.context.trace_id


async def test_concurrent_executions_keep_their_own_traces() -> None:
    exporter = InMemorySpanExporter()
    handler = _sandbox(exporter, "execution")

    async with LocalRunner(handler) as runner:
        runs = [await runner.start({}, name=f"order-{n}") for n in range(3)]
        await asyncio.gather(*(run.wait() for run in runs))

    spans = exporter.get_finished_spans()
    by_arn: dict[str, set[int]] = {}
    for span in spans:
        arn = str((span.attributes or {})["durable.execution.arn"])
        by_arn.setdefault(arn, set()).add(span.context.trace_id)
    assert sorted(by_arn) == sorted(run.arn for run in runs)
    assert all(len(traces) == 1 for traces in by_arn.values())
    assert len({trace for traces in by_arn.values() for trace in traces}) == 3
    for run in runs:  # every operation span hangs under its own execution's Workflow
        ops = [
            s
            for s in _named(spans, "a")
            if (s.attributes or {}).get("durable.execution.arn") == run.arn
        ]
        assert [_parent_id(s) for s in ops] == [workflow_span_id(run.arn)]


async def test_flush_exports_at_the_end_of_every_invocation() -> None:
    flushes: list[int] = []

    class Counting(SimpleSpanProcessor):
        def force_flush(self, timeout_millis: int = 30000) -> bool:
            flushes.append(len(exporter.get_finished_spans()))
            return super().force_flush(timeout_millis)

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(Counting(exporter))
    handler = durable_execution(
        plugins=[OpenTelemetryPlugin(tracer_provider=provider, flush=True)]
    )(_workflow)
    service = ServiceHarness()

    outputs = await drive(handler, service, service.start())

    assert len(flushes) == len(outputs) == 2
    assert flushes[-1] == len(exporter.get_finished_spans())  # the Workflow span included


async def test_a_trace_header_without_a_parent_keeps_its_trace_under_a_derived_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    exporter = InMemorySpanExporter()
    service = ServiceHarness()
    arn = service.start()

    await drive(_sandbox(exporter, "execution"), service, arn)

    spans = exporter.get_finished_spans()
    assert {s.context.trace_id for s in spans} == {XRAY_TRACE}
    (workflow,) = _named(spans, "Workflow")
    roots = {_parent_id(s) for s in spans} - {s.context.span_id for s in spans}
    assert roots == {_parent_id(workflow)}  # one missing parent, shared by the top spans
    assert _parent_id(workflow) not in (None, 0)


async def test_an_unsampled_lambda_trace_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", XRAY_HEADER.replace("Sampled=1", "Sampled=0"))
    exporter = InMemorySpanExporter()
    service = ServiceHarness()

    outputs = await drive(_sandbox(exporter, "invocation"), service, service.start())

    assert outputs[-1]["Status"] == "SUCCEEDED"
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize("view", ["execution", "invocation"])
async def test_an_invocation_that_fails_is_an_error_and_the_workflow_is_exported_once(
    view: str,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    exits = [True]  # the first invocation's process exits after the step

    @durable_execution(plugins=[OpenTelemetryPlugin(view=view, tracer_provider=provider)])  # type: ignore[arg-type]
    async def handler(event: Any, ctx: DurableContext) -> str:
        await ctx.step(lambda: "a", name="a")
        if exits and exits.pop():
            raise SystemExit(1)
        return "done"

    async with LocalRunner(handler) as runner:
        result = await runner.run()

    assert result.result == "done"
    spans = exporter.get_finished_spans()
    (workflow,) = _named(spans, "Workflow")
    assert workflow.status.status_code is trace.StatusCode.OK
    assert (workflow.attributes or {})["durable.execution.status"] == "SUCCEEDED"
    failed, succeeded = _named(spans, "Invocation")
    assert (failed.attributes or {})["durable.invocation.status"] == "RETRY"
    assert failed.status.status_code is trace.StatusCode.ERROR
    assert "SystemExit" in (failed.status.description or "")
    assert (succeeded.attributes or {})["durable.invocation.status"] == "SUCCEEDED"
    assert succeeded.status.status_code is trace.StatusCode.OK


@pytest.mark.parametrize("view", ["execution", "invocation"])
async def test_a_virtual_context_run_again_on_replay_keeps_one_span_id(view: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def group(child: DurableContext) -> str:
        return await child.step(lambda: "x", name="inside")

    @durable_execution(plugins=[OpenTelemetryPlugin(view=view, tracer_provider=provider)])  # type: ignore[arg-type]
    async def handler(event: Any, ctx: DurableContext) -> str:
        value = await ctx.run_in_child_context(group, name="group", virtual=True)
        await ctx.wait(60, name="w")
        return value

    async with LocalRunner(handler) as runner:
        result = await runner.run()

    assert result.result == "x"
    groups = _named(exporter.get_finished_spans(), "group")
    # Execution view: exported once, by the invocation it ended in. Invocation view: a
    # span in each invocation that ran it, the later one a continuation with its own id.
    assert len(groups) == (1 if view == "execution" else 2)
    assert len({s.context.span_id for s in groups}) == len(groups)
    assert groups[0].context.span_id == operation_span_id(result.arn, _op_id(groups[0]))


def _op_id(span: ReadableSpan) -> str:
    return str((span.attributes or {})["durable.operation.id"])
