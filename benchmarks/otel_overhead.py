"""What the OpenTelemetry plugin costs per step.

One invocation runs ``--steps`` async steps on the local backend (in process, virtual
time), with no plugin and with the plugin in each view. The plugin exports through the
SDK's ``BatchSpanProcessor`` (to an in-memory exporter, as a stand-in for OTLP: export
runs on the processor's thread, off the event loop). ``SDK alone`` is the floor: a
plugin that makes the same two spans per step (an operation span, and an attempt span
current while the step runs, with the same attributes and one link each) straight
through the SDK, with no ids to derive and no state. Runs alternate between the set-ups
and the median of ``--runs`` is kept::

    python -m benchmarks.otel_overhead                 # 200 steps, 21 runs each
    python -m benchmarks.otel_overhead --steps 50 --runs 5

It prints one line per set-up and the overhead per step against no plugin.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from aiodurable import DurableContext, DurableHandler, durable_execution
from aiodurable.otel import OpenTelemetryPlugin
from aiodurable.plugins import (
    OperationEndInfo,
    OperationInfo,
    Plugin,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)
from aiodurable.testing import LocalRunner

SETUPS = ("no plugin", "SDK alone", "execution view", "invocation view")


class SdkAlone(Plugin):
    """The execution view's two spans per step, made with nothing around them."""

    def __init__(self, provider: TracerProvider) -> None:
        self._tracer = provider.get_tracer("benchmark")
        self._link = SpanContext(1, 1, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        self._parent = set_span_in_context(NonRecordingSpan(self._link), Context())
        self._running: dict[str, tuple[Span, object]] = {}

    def _start(self, name: str, attributes: dict[str, Any]) -> Span:
        return self._tracer.start_span(
            name,
            context=self._parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=[Link(self._link)],
            start_time=time.time_ns(),
            record_exception=False,
            set_status_on_exception=False,
        )

    def _attributes(self, info: OperationInfo) -> dict[str, Any]:
        return {
            "durable.execution.arn": info.execution_arn,
            "durable.operation.id": info.operation_id,
            "durable.operation.type": info.operation_type.value,
            "durable.operation.subtype": info.sub_type,
            "durable.operation.name": info.name,
        }

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        span = self._start(
            f"{info.name} attempt {info.attempt}",
            {**self._attributes(info), "durable.attempt.number": info.attempt},
        )
        token = otel_context.attach(set_span_in_context(span))
        self._running[info.operation_id] = (span, token)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        span, token = self._running.pop(info.operation_id)
        otel_context.detach(token)  # type: ignore[arg-type]
        span.set_attribute("durable.attempt.outcome", info.outcome.value)
        span.set_status(StatusCode.OK)
        span.end(time.time_ns())

    def on_operation_end(self, info: OperationEndInfo) -> None:
        attributes = self._attributes(info)
        attributes["durable.operation.status"] = info.status.value
        attributes["durable.attempt.number"] = info.attempt
        span = self._start(info.name or "", attributes)
        span.set_status(StatusCode.OK)
        span.end(time.time_ns())


def workflow(steps: int, plugins: list[Plugin]) -> DurableHandler[dict[str, Any], int]:
    async def one(i: int) -> int:
        return i

    @durable_execution(plugins=plugins)
    async def handler(event: dict[str, Any], ctx: DurableContext) -> int:
        total = 0
        for i in range(steps):
            total += await ctx.step(one, i, name=f"step-{i}")
        return total

    return handler


def handlers(steps: int) -> tuple[dict[str, DurableHandler[dict[str, Any], int]], list[Any]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    processor = BatchSpanProcessor(exporter, max_queue_size=100_000)
    provider.add_span_processor(processor)
    built = {
        "no plugin": workflow(steps, []),
        "SDK alone": workflow(steps, [SdkAlone(provider)]),
        "execution view": workflow(
            steps, [OpenTelemetryPlugin(view="execution", tracer_provider=provider)]
        ),
        "invocation view": workflow(
            steps, [OpenTelemetryPlugin(view="invocation", tracer_provider=provider)]
        ),
    }
    return built, [provider, exporter]


async def one_run(handler: DurableHandler[dict[str, Any], int], steps: int) -> float:
    async with LocalRunner(handler) as runner:
        started = time.perf_counter()
        run = await runner.run({})
        elapsed = time.perf_counter() - started
    assert run.result == steps * (steps - 1) // 2, run.status
    return elapsed


async def measure(steps: int, runs: int) -> dict[str, float]:
    """Median seconds per step of each set-up."""
    built, (provider, exporter) = handlers(steps)
    for handler in built.values():  # warm-up: imports, first tracer, thread start
        await one_run(handler, steps)
    times: dict[str, list[float]] = {name: [] for name in SETUPS}
    for _ in range(runs):
        for name in SETUPS:
            times[name].append(await one_run(built[name], steps) / steps)
            # Export and drop this run's spans before the next set-up runs: spans kept
            # alive would make the garbage collector slower for whichever set-up runs
            # after them (an OTLP exporter does not keep what it sent).
            provider.force_flush()
            exporter.clear()
    provider.shutdown()
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args(argv)
    per_step = asyncio.run(measure(args.steps, args.runs))
    base = per_step["no plugin"]
    print(f"OpenTelemetry plugin overhead ({args.steps} async steps, median of {args.runs})")
    for name in SETUPS:
        extra = per_step[name] - base
        note = "" if name == "no plugin" else f"  (+{extra * 1e6:.1f} µs/step, {extra / base:+.0%})"
        print(f"  {name:16} {per_step[name] * 1e6:8.1f} µs/step{note}")


if __name__ == "__main__":
    main()
