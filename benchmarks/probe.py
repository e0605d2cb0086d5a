"""Runs one workload of one SDK in this (fresh) process and prints JSON lines.

Started by :mod:`benchmarks.run` with the SDK's virtualenv interpreter; standard library
only apart from the adapter. One line per event, flushed at once, so a run that is
stopped by the runner's timeout still reports what it finished::

    {"event": "setup", ...}   after imports and building the handler
    {"event": "warmup", ...}  the untimed warm-up invocation
    {"event": "run", ...}     one per timed invocation
    {"event": "done", ...}    peak RSS of the process
    {"event": "not_available" | "error", ...}
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import resource
import sys
import threading
import time
import traceback
from typing import Any

__all__ = ["main"]


class ThreadCounter:
    """Counts ``threading.Thread.start`` calls and the peak of live threads."""

    def __init__(self) -> None:
        self.started = 0
        self.peak = threading.active_count()
        original = threading.Thread.start
        counter = self

        def start(thread: threading.Thread) -> None:
            original(thread)
            counter.started += 1
            counter.peak = max(counter.peak, threading.active_count())

        threading.Thread.start = start  # type: ignore[method-assign]

    def reset(self) -> None:
        self.started = 0
        self.peak = threading.active_count()


THREADS = ThreadCounter()  # installed before any SDK module is imported


def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def current_rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def load_adapter(sdk: str) -> Any:
    module = importlib.import_module(f"benchmarks.adapters.{sdk.replace('-', '_')}")
    return module.ADAPTER()


def invoke_once(
    adapter: Any,
    handler: Any,
    workload: str,
    n: int,
    recorded: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    from benchmarks.fake_lambda import FakeLambdaApi
    from benchmarks.workloads import expected_result

    api = FakeLambdaApi(input_payload=json.dumps({"n": n}))
    if recorded is not None:
        api.preload(recorded)
    event = api.event()
    adapter.bind(api)
    gc.collect()
    THREADS.reset()
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    output = adapter.invoke(handler, event)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    status = output.get("Status")
    if status != "SUCCEEDED":
        raise RuntimeError(f"invocation ended {status}: {str(output)[:2000]}")
    result = json.loads(output["Result"]) if output.get("Result") else api.result
    expected = expected_result(workload, n)
    if result != expected:
        raise RuntimeError(f"workflow returned {str(result)[:200]!r}, expected {expected!r}")
    return {
        "wall": wall,
        "cpu": cpu,
        "checkpoint_calls": api.checkpoint_calls,
        "updates": api.updates,
        "state_calls": api.state_calls,
        "service_time": api.service_time,
        "waiting": api.waiting,
        "threads_started": THREADS.started,
        "threads_peak": THREADS.peak,
        "operations": len(api.operations) - 1,
        "_api": api,
    }


def public(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if not k.startswith("_")}


def run(args: argparse.Namespace) -> None:
    from benchmarks.adapters.base import NotAvailable
    from benchmarks.fake_lambda import operations_from_json, operations_to_json

    adapter = load_adapter(args.sdk)
    try:
        handler = adapter.handler(args.workload)
    except NotAvailable as exc:
        emit(event="not_available", reason=str(exc))
        return
    recorded = None
    if args.replay:
        with open(args.replay) as f:
            recorded = operations_from_json(f.read())
    emit(event="setup", rss_kb=current_rss_kb(), threads=threading.active_count())

    if args.capture:
        # Record the history a W1 run of size n leaves behind, for the replay workload.
        done = invoke_once(adapter, handler, "W1", args.n, None)
        with open(args.capture, "w") as f:
            f.write(operations_to_json(done["_api"].recorded()))
        emit(event="captured", **public(done))
        return

    warm_n = args.n if args.warmup_n is None else min(args.n, args.warmup_n)
    emit(
        event="warmup",
        n=warm_n,
        **public(invoke_once(adapter, handler, args.workload, warm_n, recorded)),
    )
    spent = 0.0
    last = 0.0
    for i in range(args.runs):
        if i > 0 and spent + last > args.budget:
            break  # another run would overrun this workload's time budget
        fields = invoke_once(adapter, handler, args.workload, args.n, recorded)
        last = fields["wall"]
        spent += last
        emit(event="run", **public(fields))
    emit(event="done", peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdk", required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup-n", type=int, default=None)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--replay", help="JSON file of recorded operations to replay")
    parser.add_argument("--capture", help="run W1 of size n once and write its history here")
    args = parser.parse_args()
    try:
        run(args)
    except Exception as exc:
        emit(
            event="error", message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
