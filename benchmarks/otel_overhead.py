"""What the OpenTelemetry plugin costs per step.

One invocation runs ``--steps`` async steps on the local backend (in process, virtual
time), with no plugin and with the plugin in each view. The plugin exports through the
SDK's ``BatchSpanProcessor`` (to an in-memory exporter, as a stand-in for OTLP: export
runs on the processor's thread, off the event loop). Runs alternate between the set-ups
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

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiodurable import DurableContext, DurableHandler, durable_execution
from aiodurable.otel import OpenTelemetryPlugin
from aiodurable.plugins import Plugin
from aiodurable.testing import LocalRunner

SETUPS = ("no plugin", "execution view", "invocation view")


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
