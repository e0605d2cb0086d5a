"""Tracing: a workflow's OpenTelemetry spans, printed as a tree — no collector needed.

An order workflow (a step, a step that fails once and is retried, a one-day wait and a
parallel notification) runs on the local backend with the OpenTelemetry plugin. The
spans go to the OpenTelemetry SDK's in-memory exporter and are printed as a tree::

    python -m examples.tracing               # the execution view: one Workflow tree
    python -m examples.tracing invocation    # the invocation view: one tree per invocation

Time is the backend's virtual time, which the plugin is given as its clock: the one-day
wait is a day long in the trace and passes at once; steps take no virtual time. On
Lambda the same plugin exports through the ADOT layer or an OTLP exporter instead
(docs/observability.md).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal, cast

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiodurable import (
    DurableContext,
    DurableHandler,
    Jitter,
    NamedBranch,
    RetryStrategy,
    StepContext,
    durable_execution,
)
from aiodurable.local import VirtualClock
from aiodurable.otel import OpenTelemetryPlugin
from aiodurable.testing import LocalRunner


def charge_card() -> str:
    """The payment provider declines the first attempt (a stand-in for its API)."""
    if StepContext.current().attempt == 1:
        raise ConnectionError("payment provider timed out")
    return "PAY-1"


async def notify(channel: str, ctx: DurableContext) -> str:
    return await ctx.step(lambda: f"{channel} sent", name=f"send-{channel}")


def order_workflow(plugin: OpenTelemetryPlugin) -> DurableHandler[dict[str, Any], str]:
    """The workflow, traced by ``plugin``."""

    @durable_execution(plugins=[plugin])
    async def handler(order: dict[str, Any], ctx: DurableContext) -> str:
        await ctx.step(lambda: "reserved", name="reserve-stock")
        retry = RetryStrategy(max_attempts=3, initial_delay=2, jitter=Jitter.NONE)
        payment = await ctx.step(charge_card, name="charge", retry=retry)
        await ctx.wait(timedelta(days=1), name="cool-off")
        await ctx.parallel(
            [
                NamedBranch("email", lambda c: notify("email", c)),
                NamedBranch("sms", lambda c: notify("sms", c)),
            ],
            name="notify",
        )
        return f"{order['order_id']} shipped, paid by {payment}"

    return handler


View = Literal["execution", "invocation"]


async def traced_run(view: View = "execution") -> tuple[str, list[ReadableSpan]]:
    """Run one order; its result and every span the plugin exported."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    clock = VirtualClock()
    plugin = OpenTelemetryPlugin(view=view, tracer_provider=provider, clock=clock.now)
    async with LocalRunner(order_workflow(plugin), clock=clock) as runner:
        run = await runner.run({"order_id": "o-42"})
    return str(run.result), list(exporter.get_finished_spans())


def _duration(nanoseconds: int) -> str:
    return str(timedelta(milliseconds=nanoseconds // 1_000_000))


def span_tree(spans: Sequence[ReadableSpan]) -> str:
    """The spans as an indented tree: name, status, start offset, duration, attributes."""
    by_id = {span.context.span_id: span for span in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in by_id else None, []).append(span)
    origin = min(span.start_time or 0 for span in spans)
    lines: list[str] = []

    def show(span: ReadableSpan, prefix: str, last: bool, top: bool) -> None:
        attributes = span.attributes or {}
        detail = " ".join(
            str(attributes[key])
            for key in (
                "durable.operation.type",
                "durable.invocation.status",
                "durable.execution.status",
            )
            if key in attributes
        )
        start, end = span.start_time or 0, span.end_time or 0
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(
            f"{prefix}{branch}{span.name}  [{span.status.status_code.name}] {detail}"
            f"  +{_duration(start - origin)} for {_duration(end - start)}"
        )
        kids = sorted(children.get(span.context.span_id, []), key=lambda s: s.start_time or 0)
        inner = prefix if top else prefix + ("    " if last else "│   ")
        for index, kid in enumerate(kids):
            show(kid, inner, index == len(kids) - 1, False)

    roots = sorted(children.get(None, []), key=lambda s: s.start_time or 0)
    for root in roots:
        show(root, "", True, True)
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    view = cast(View, argv[0] if argv else "execution")
    result, spans = asyncio.run(traced_run(view))
    print(f"result: {result}")
    print(f"trace {spans[0].context.trace_id:032x}, {len(spans)} spans ({view} view):")
    print(span_tree(spans))


if __name__ == "__main__":
    main(sys.argv[1:])
