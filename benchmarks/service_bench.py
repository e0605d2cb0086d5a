"""What users pay where the service is real: latency, a cold sandbox, a SQLite store.

Three measurements beside the zero-latency workloads of :mod:`benchmarks.run`:

* **latency** — the fake service (:mod:`benchmarks.fake_lambda`) waits ``L`` ms per call
  (``BENCH_LATENCY_MS``), blocking the calling thread for the official SDK and awaiting
  for the asynchronous ones, as a network round trip would. Per SDK and latency: N
  sequential steps (steps/s, against the ideal of one round trip per step), a map of
  1,000 and 10,000 items (wall time and number of checkpoint calls), and the share of
  wall time with at least one call in flight.
* **cold start** — :mod:`benchmarks.cold_start`.
* **store scaling** — aiodurable's local backend running a map of N one-step items on
  the memory store and on the SQLite store (WAL, ``synchronous=FULL``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import venvs

__all__ = ["measure_latency", "measure_store_scaling", "measure_cold_start"]

LATENCIES_MS = (0, 10, 30)
#: (workload, n) pairs measured at every latency.
LATENCY_CELLS = (("W1", 100), ("W3", 1_000), ("W3", 10_000))
STORE_SIZES = (1_000, 4_000, 50_000)


def measure_latency(
    envs: dict[str, venvs.Env],
    *,
    latencies: tuple[int, ...] = LATENCIES_MS,
    cells: tuple[tuple[str, int], ...] = LATENCY_CELLS,
    timeout: float = 120.0,
    log: Any = print,
) -> list[dict[str, Any]]:
    """One row per (SDK, latency, workload, n): one timed run after a small warm-up."""
    from benchmarks.run import run_probe

    rows: list[dict[str, Any]] = []
    for latency in latencies:
        os.environ["BENCH_LATENCY_MS"] = str(latency)
        try:
            for workload, n in cells:
                for sdk, env in envs.items():
                    argv = ["--sdk", sdk, "--workload", workload, "--n", str(n)]
                    argv += ["--runs", "1", "--warmup-n", "10"]
                    row: dict[str, Any] = {
                        "sdk": sdk, "latency_ms": latency, "workload": workload, "n": n,
                    }  # fmt: skip
                    events, timed_out, stderr = run_probe(env, argv, timeout)
                    runs = [e for e in events if e.get("event") == "run"]
                    if runs:
                        run = runs[0]
                        row.update(
                            status="ok",
                            wall=run["wall"],
                            checkpoint_calls=run["checkpoint_calls"],
                            updates=run["updates"],
                            waiting=run.get("waiting", 0.0),
                        )
                    elif timed_out:
                        row.update(status="timeout", reason=f"over {timeout:.0f} s")
                    else:
                        errors = [e for e in events if e.get("event") == "error"]
                        reason = errors[0]["message"] if errors else stderr.strip()[-300:]
                        row.update(status="error", reason=reason)
                    rows.append(row)
                    log(f"[latency {latency} ms] {sdk} {workload} n={n}: {_describe(row)}")
        finally:
            os.environ.pop("BENCH_LATENCY_MS", None)
    return rows


def _describe(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"{row['status']}: {row.get('reason', '')}"
    return (
        f"{row['wall']:.2f} s, {row['checkpoint_calls']} calls, "
        f"{row['waiting'] / row['wall']:.0%} waiting"
    )


async def _map_on(store: Any, n: int) -> float:
    from aiodurable import DurableContext, durable_execution
    from aiodurable.local import LocalBackend

    async def one(i: int) -> int:
        return i

    @durable_execution
    async def mapper(event: Any, ctx: DurableContext) -> int:
        async def item(child: DurableContext, value: int, index: int) -> int:
            return await child.step(one, value, name="item")

        result = await ctx.map(list(range(n)), item)
        return sum(result.get_results())

    async with LocalBackend(store=store) as backend:
        backend.register("mapper", mapper)
        started = time.perf_counter()
        info = backend.start_execution("mapper", "{}")
        final = await backend.wait_for_completion(info.arn)
        wall = time.perf_counter() - started
    if final.status.value != "SUCCEEDED" or final.result != str(n * (n - 1) // 2):
        raise RuntimeError(f"map of {n} ended {final.status.value}: {final.error}")
    return wall


def measure_store_scaling(
    sizes: tuple[int, ...] = STORE_SIZES, *, timeout: float = 300.0, log: Any = print
) -> list[dict[str, Any]]:
    """Wall time of a map of each size on the memory store and on a SQLite file."""
    from aiodurable.local import SqliteStore

    rows: list[dict[str, Any]] = []
    for n in sizes:
        for kind in ("memory", "sqlite"):
            with tempfile.TemporaryDirectory() as tmp:
                store = SqliteStore(Path(tmp) / "bench.db") if kind == "sqlite" else None
                row: dict[str, Any] = {"store": kind, "n": n}
                try:
                    row.update(
                        status="ok", wall=asyncio.run(asyncio.wait_for(_map_on(store, n), timeout))
                    )
                except TimeoutError:
                    row.update(status="timeout", reason=f"over {timeout:.0f} s")
                finally:
                    if store is not None:
                        store.close()
            rows.append(row)
            shown = f"{row['wall']:.2f} s" if row["status"] == "ok" else row["reason"]
            log(f"[store] {kind} map n={n}: {shown}")
    return rows


def measure_cold_start(
    envs: dict[str, venvs.Env], repeats: int = 10, *, log: Any = print
) -> list[dict[str, Any]]:
    import tempfile
    from pathlib import Path

    from benchmarks.cold_start import (
        import_profile,
        measure_cold_starts,
        runtimes_for,
        tls_profile,
    )

    rows = []
    with tempfile.TemporaryDirectory(prefix="cold-package-") as workdir:
        runtimes = runtimes_for(envs, Path(workdir))
        load_before = os.getloadavg()[0]
        results = measure_cold_starts(runtimes, repeats)
        load_after = os.getloadavg()[0]
        for result in results:
            rows.append(
                {
                    "sdk": result.sdk,
                    "median": result.median,
                    "median_import": result.median_import,
                    "median_cpu": result.median_cpu,
                    "samples": result.totals,
                    "cpu_samples": result.cpus,
                    "min": min(result.totals),
                    "stdev": statistics.pstdev(result.totals),
                    "load": [load_before, load_after],
                    "tls": True,
                }
            )
            log(
                f"[cold start] {result.sdk}: median {result.median * 1000:.0f} ms "
                f"(CPU {result.median_cpu * 1000:.0f} ms) of {repeats}"
            )
        for row in rows:
            # Where the time goes: the costliest imports of one more cold first invocation.
            row["import_profile"] = import_profile(runtimes[row["sdk"]], row["sdk"])
            if row["sdk"] == "aiodurable":
                row["tls_profile"] = tls_profile(envs["aiodurable"].python)
                row["package"] = _package_sizes(Path(workdir) / "lambda.zip")
    return rows


def _package_sizes(archive: Any) -> dict[str, Any]:
    """Size of the zip the cold start ran from, and its breakdown by top-level name."""
    from aiodurable.lambda_package import breakdown

    return {"zipped": archive.stat().st_size, "breakdown": breakdown(archive)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("latency", "store", "cold"))
    args = parser.parse_args()
    sdks = {s: venvs.ensure(s) for s in ("aiodurable", "official", "community")}
    if args.part == "latency":
        measure_latency(sdks)
    elif args.part == "store":
        measure_store_scaling()
    else:
        measure_cold_start(sdks)
