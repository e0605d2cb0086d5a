"""Load test of the local backend over HTTP (not a timed test; run it with ``make load``).

Two processes on loopback:

* the **server** runs ``aiodurable.local.LocalBackend`` behind ``LocalHttpServer``, with a
  20-step workflow registered; when the backend invokes the workflow, the workflow
  checkpoints back to the server over HTTP through ``LambdaServiceClient`` (aiobotocore),
  exactly as it would against Lambda. Each checkpoint call's latency is recorded there.
* the **load generator** (this process) keeps ``--concurrency`` executions in flight for
  ``--seconds``: each virtual user calls ``Invoke`` with a fresh durable execution name
  (RequestResponse: the call returns when the execution completed) and starts the next.

At the end every completed execution is checked: its result is the expected sum and its
history holds one ``StepSucceeded`` per step, so no acknowledged checkpoint was lost.

    python -m benchmarks.load_http --concurrency 200 --steps 20 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiodurable import DurableContext, durable_execution

RESULTS = Path(__file__).parent / "results"


async def add(total: int, i: int) -> int:
    return total + i


def make_workflow(steps: int) -> Any:
    @durable_execution
    async def workflow(event: dict[str, Any], ctx: DurableContext) -> int:
        total = 0
        for i in range(steps):
            total = await ctx.step(add, total, i, name=f"step-{i}")
        return total

    return workflow


class TimedClient:
    """Wraps the Lambda client: records how long every checkpoint call took."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.latencies: list[float] = []
        self.acknowledged_updates = 0

    async def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = await self.inner.checkpoint(*args, **kwargs)
        self.latencies.append(time.perf_counter() - started)
        self.acknowledged_updates += len(args[2])
        return response

    async def get_state(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.get_state(*args, **kwargs)


class OverHttp:
    """An invoke target that runs the workflow with the HTTP client, not in-process."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.client: TimedClient | None = None

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        return await self.handler.run(event, client=self.client)


async def serve(args: argparse.Namespace) -> dict[str, Any]:
    from aiobotocore.session import get_session

    from aiodurable.local import LocalBackend, SqliteStore
    from aiodurable.local.http import LocalHttpServer
    from aiodurable.service import LambdaServiceClient

    target = OverHttp(make_workflow(args.steps))
    store = SqliteStore(args.sqlite) if args.sqlite else None
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with (
        LocalBackend(store=store, functions={"load": target}) as backend,
        LocalHttpServer(backend, port=0) as server,
    ):
        session = get_session()
        session.set_credentials("x", "x")
        async with await LambdaServiceClient.create(
            region_name="us-east-1", endpoint_url=server.endpoint_url, session=session
        ) as client:
            target.client = TimedClient(client)
            print(server.endpoint_url, flush=True)
            await stop.wait()
            lat = sorted(target.client.latencies)
            summary: dict[str, Any] = {
                "checkpoint_calls": len(lat),
                "acknowledged_updates": target.client.acknowledged_updates,
                "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
                "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
                "mean_ms": 1000 * statistics.fmean(lat) if lat else None,
                "executions": {},
            }
            for info in backend.executions():
                events = backend.history(info.arn)
                succeeded = sum(e.event_type.value == "StepSucceeded" for e in events)
                summary["executions"][info.arn] = {
                    "status": info.status.value,
                    "result": info.result,
                    "steps_succeeded": succeeded,
                }
            return summary


def serve_and_report(args: argparse.Namespace) -> None:
    summary = asyncio.run(serve(args))
    Path(args.report).write_text(json.dumps(summary))


async def generate(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    session = get_session()
    session.set_credentials("x", "x")
    config = AioConfig(
        max_pool_connections=args.concurrency, read_timeout=300, retries={"max_attempts": 0}
    )
    completed: list[str] = []
    failed: list[str] = []
    deadline = time.monotonic() + args.seconds
    async with session.create_client(
        "lambda", region_name="us-east-1", endpoint_url=url, config=config
    ) as lam:

        async def user() -> None:
            while time.monotonic() < deadline:
                response = await lam.invoke(
                    FunctionName="load",
                    Payload=b"{}",
                    DurableExecutionName=uuid.uuid4().hex,
                )
                await response["Payload"].read()
                arn = response.get("DurableExecutionArn", "")
                (failed if response.get("FunctionError") else completed).append(arn)

        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            for _ in range(args.concurrency):
                group.create_task(user())
        elapsed = time.monotonic() - started
    return {"completed": completed, "failed": failed, "elapsed": elapsed}


async def run(args: argparse.Namespace) -> int:
    report = RESULTS / "load_http_server.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.load_http",
        "--serve",
        "--steps",
        str(args.steps),
        "--report",
        str(report),
        *(["--sqlite", args.sqlite] if args.sqlite else []),
        stdout=asyncio.subprocess.PIPE,
    )
    assert server.stdout is not None
    url = (await server.stdout.readline()).decode().strip()
    try:
        load = await generate(args, url)
    finally:
        server.send_signal(signal.SIGTERM)
        await server.wait()
    summary = json.loads(report.read_bytes())
    expected = sum(range(args.steps))
    executions = summary["executions"]
    lost = [
        arn
        for arn in load["completed"]
        if executions.get(arn, {}).get("steps_succeeded") != args.steps
        or executions[arn]["result"] != str(expected)
    ]
    rate = len(load["completed"]) / load["elapsed"]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"{args.concurrency} concurrent executions x {args.steps} steps for "
        f"{load['elapsed']:.1f} s ({'SQLite' if args.sqlite else 'memory'} store)"
    )
    print(
        f"completed executions: {len(load['completed'])} ({rate:.1f}/s), "
        f"failed: {len(load['failed'])}"
    )
    print(
        f"checkpoint calls: {summary['checkpoint_calls']}, latency p50 "
        f"{summary['p50_ms']:.2f} ms, p99 {summary['p99_ms']:.2f} ms, "
        f"mean {summary['mean_ms']:.2f} ms"
    )
    print(
        f"acknowledged updates: {summary['acknowledged_updates']}; executions with a lost "
        f"checkpoint or a wrong result: {len(lost)}"
    )
    return 1 if lost or load["failed"] else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--sqlite", default="", help="SQLite file for the backend's store")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_and_report(args)
        return
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
