"""What the OpenTelemetry plugin keeps while it follows an execution, and for how long.

Deterministic span contexts are derived once and reused while they are needed: the
Workflow's for the invocation, an operation's while its attempts and children run. Each
is dropped when its operation ends, and everything when the invocation ends, so no state
grows with the executions a sandbox has served.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiodurable import DurableContext, Plugin, durable_execution
from aiodurable.otel import OpenTelemetryPlugin, operation_span_id, workflow_span_id
from aiodurable.plugins import OperationEndInfo, UserFunctionStartInfo
from aiodurable.testing import LocalRunner


class KeptIds(Plugin):
    """Runs after the OpenTelemetry plugin; notes which operations it keeps contexts of."""

    def __init__(self, traced: OpenTelemetryPlugin) -> None:
        self.traced = traced
        self.names: dict[str, str | None] = {}
        self.at_end: dict[str | None, set[str | None]] = {}
        self.at_start: dict[str | None, set[str | None]] = {}

    def _kept(self, arn: str | None) -> set[str | None]:
        inv = self.traced._invocations[arn or ""]
        return {self.names.get(i, i) for i in inv._operations}

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        self.names[info.operation_id] = info.name
        self.at_start[info.name] = self._kept(info.execution_arn)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        self.names[info.operation_id] = info.name
        self.at_end[info.name] = self._kept(info.execution_arn)


async def _workflow(event: Any, ctx: DurableContext) -> str:
    async def group(child: DurableContext) -> str:
        first = await child.step(lambda: "a", name="inner-a")
        return first + await child.step(_sync_b, name="inner-b")

    grouped = await ctx.run_in_child_context(group, name="group")
    return grouped + await ctx.step(lambda: "c", name="last")


def _sync_b() -> str:  # a sync step: its hooks run in a worker thread
    return "b"


def _traced(view: str) -> tuple[OpenTelemetryPlugin, KeptIds, InMemorySpanExporter, Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = OpenTelemetryPlugin(view=view, tracer_provider=provider)  # type: ignore[arg-type]
    probe = KeptIds(traced)
    return traced, probe, exporter, durable_execution(plugins=[traced, probe])(_workflow)


def _one(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (span,) = (s for s in spans if s.name == name)
    return span


async def test_an_operation_is_kept_while_it_runs_and_nothing_once_the_invocation_ends() -> None:
    traced, probe, exporter, handler = _traced("execution")
    async with LocalRunner(handler) as runner:
        run = await runner.run({})
    assert run.result == "abc"
    # A step's context is kept from its attempt's start (the attempt's parent) to the
    # step's end; a child's end keeps its running parent's; an ended operation goes.
    assert probe.at_start["group"] == set()
    assert probe.at_start["inner-a"] == {"inner-a"}
    assert probe.at_end["inner-a"] == {"group"}
    assert probe.at_start["inner-b"] == {"group", "inner-b"}
    assert probe.at_end["inner-b"] == {"group"}
    assert probe.at_end["group"] == set()
    assert probe.at_start["last"] == {"last"}
    assert probe.at_end["last"] == set()
    assert traced._invocations == {}

    # What was reused is what every invocation derives: the deterministic ids.
    spans = exporter.get_finished_spans()
    arn = run.arn
    ids = {name: op for op, name in probe.names.items()}
    group, inner_a, inner_b, last = (
        _one(spans, n) for n in ("group", "inner-a", "inner-b", "last")
    )
    assert group.context.span_id == operation_span_id(arn, ids["group"])
    assert group.parent is not None and group.parent.span_id == workflow_span_id(arn)
    for span, name in ((inner_a, "inner-a"), (inner_b, "inner-b")):
        assert span.context.span_id == operation_span_id(arn, ids[name])
        assert span.parent is not None and span.parent.span_id == group.context.span_id
        attempt = _one(spans, f"{name} attempt 1")
        assert attempt.parent is not None and attempt.parent.span_id == span.context.span_id
    assert last.parent is not None and last.parent.span_id == workflow_span_id(arn)


@pytest.mark.parametrize("view", ["execution", "invocation"])
async def test_a_second_execution_derives_its_own_contexts(view: str) -> None:
    traced, probe, exporter, handler = _traced(view)
    async with LocalRunner(handler) as runner:
        first = await runner.run({})
        second = await runner.run({})
    assert traced._invocations == {}
    if view == "invocation":  # parents are the open spans: no context is kept at all
        assert all(kept == set() for kept in probe.at_end.values())
    spans = exporter.get_finished_spans()
    for run in (first, second):
        mine = [s for s in spans if _attribute(s, "durable.execution.arn") == run.arn]
        (workflow,) = (s for s in mine if s.name == "Workflow")
        (last,) = (s for s in mine if s.name == "last")
        assert last.context.trace_id == workflow.context.trace_id
        assert workflow.context.span_id == workflow_span_id(run.arn)
        last_id = str(_attribute(last, "durable.operation.id"))
        assert last.context.span_id == operation_span_id(run.arn, last_id)


def _attribute(span: ReadableSpan, key: str) -> object:
    return (span.attributes or {}).get(key)
