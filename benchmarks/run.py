"""Benchmark aiodurable against the official and the community SDK.

Every SDK runs in its own virtualenv (``benchmarks/.venvs/``, created on first use) and
every workload size in a fresh subprocess of that venv (:mod:`benchmarks.probe`): one
warm-up invocation, then timed invocations of the SDK's real Lambda handler wrapper on a
hand-built invocation event, against an in-process fake of the durable execution API
(:mod:`benchmarks.fake_lambda`). What is measured is SDK overhead.

    python -m benchmarks.run                    # everything; writes docs/benchmarks.{md,png}
    python -m benchmarks.run --quick            # small sizes, for development
    python -m benchmarks.run -w W1,W3 -s aiodurable,official
    python -m benchmarks.run --report-only      # redraw the docs from the last results

``aiodurable-http`` is a second mode of aiodurable: its own local backend served over HTTP
on loopback, so the wire (aiobotocore, HTTP, the backend) is included. It runs by default
when ``aiodurable.local.http`` exists (``--no-http`` skips it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import cold_import, venvs
from benchmarks.workloads import SDKS, WORKLOADS

__all__ = ["main"]

RESULTS = venvs.REPO / "benchmarks" / "results"
REPLAYS = RESULTS / "replay"
DOC = venvs.REPO / "docs" / "benchmarks.md"
CHART = venvs.REPO / "docs" / "benchmarks.png"
#: Warm-up size for big workloads: enough to load and warm every code path.
WARMUP_N = 100
_started_at = time.time()
HTTP_MODE = "aiodurable-http"
DISTRIBUTIONS = {
    "aiodurable": "aiodurable",
    HTTP_MODE: "aiodurable",
    "official": "aws-durable-execution-sdk-python",
    "community": "async-durable-execution",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
    }


def parse_lines(text: str | bytes | None) -> list[dict[str, Any]]:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    events = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def run_probe(
    env: venvs.Env, argv: list[str], timeout: float
) -> tuple[list[dict[str, Any]], bool, str]:
    """Start the probe in ``env``; return its events, whether it timed out, and stderr."""
    command = [env.python, "-m", "benchmarks.probe", *argv]
    try:
        done = subprocess.run(
            command,
            cwd=venvs.REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return parse_lines(exc.stdout), True, ""
    return parse_lines(done.stdout), False, done.stderr


def summarise(cell: dict[str, Any]) -> None:
    runs = cell["runs"]
    if not runs:
        return
    n = max(cell["n"], 1)

    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    wall = median("wall")
    cpu = median("cpu")
    sdk_cpu = statistics.median(run["cpu"] - run["service_time"] for run in runs)
    cell["summary"] = {
        "wall": wall,
        "cpu": cpu,
        "sdk_cpu": sdk_cpu,
        "wall_per_item": wall / n,
        "cpu_per_item": cpu / n,
        "sdk_cpu_per_item": sdk_cpu / n,
        "service_time": median("service_time"),
        "checkpoint_calls": median("checkpoint_calls"),
        "updates": median("updates"),
        "state_calls": median("state_calls"),
        "threads_started": max(run["threads_started"] for run in runs),
        "threads_peak": max(run["threads_peak"] for run in runs),
        "runs": len(runs),
    }


def capture_replay(env: venvs.Env, sdk: str, version: str, n: int, timeout: float) -> Path:
    """The history a W1 run of size ``n`` leaves, recorded once per SDK version.

    aiodurable's is recorded afresh on every runner start (its source changes)."""
    REPLAYS.mkdir(parents=True, exist_ok=True)
    path = REPLAYS / f"{sdk}-{version}-{n}.json"
    if path.exists() and sdk != "aiodurable":
        return path
    if sdk == "aiodurable" and path.exists() and path.stat().st_mtime > _started_at:
        return path
    log(f"[{sdk}] recording a W1 history of {n} steps for W2")
    events, timed_out, stderr = run_probe(
        env, ["--sdk", sdk, "--workload", "W1", "--n", str(n), "--capture", str(path)], timeout
    )
    if timed_out or not any(e["event"] == "captured" for e in events):
        path.unlink(missing_ok=True)
        detail = next((e.get("message") for e in events if e["event"] == "error"), stderr[-500:])
        raise RuntimeError(f"recording the W2 history failed: {'timeout' if timed_out else detail}")
    return path


def measure_cell(
    env: venvs.Env,
    sdk: str,
    version: str,
    workload: str,
    n: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    cell: dict[str, Any] = {"sdk": sdk, "workload": workload, "n": n, "runs": [], "status": "ok"}
    argv = [
        "--sdk", sdk, "--workload", workload, "--n", str(n),
        "--runs", str(args.runs), "--budget", str(args.budget),
    ]  # fmt: skip
    if WORKLOADS[workload].replay and sdk == HTTP_MODE:
        cell.update(status="not_available", reason="W2 replays a recorded history; in-process only")
        return cell
    if WORKLOADS[workload].replay:
        try:
            argv += ["--replay", str(capture_replay(env, sdk, version, n, args.timeout))]
        except RuntimeError as exc:
            cell.update(status="error", reason=str(exc))
            return cell
    elif n > WARMUP_N * 10:
        argv += ["--warmup-n", str(WARMUP_N)]
    started = time.perf_counter()
    events, timed_out, stderr = run_probe(env, argv, args.timeout)
    cell["elapsed"] = time.perf_counter() - started
    for event in events:
        kind = event.pop("event")
        if kind == "run":
            cell["runs"].append(event)
        elif kind in ("setup", "warmup", "done"):
            cell[kind] = event
        elif kind == "not_available":
            cell.update(status="not_available", reason=event["reason"])
        elif kind == "error":
            cell.update(status="error", reason=event["message"], traceback=event["traceback"])
    if timed_out:
        cell["status"] = "timeout"
        cell["reason"] = f"stopped after {args.timeout:.0f} s with {len(cell['runs'])} timed run(s)"
    elif cell["status"] == "ok" and "done" not in cell:
        cell.update(status="error", reason=stderr.strip()[-1500:] or "probe exited early")
    if "done" in cell:
        cell["peak_rss_kb"] = cell["done"]["peak_rss_kb"]
    summarise(cell)
    return cell


def measure_imports(env: venvs.Env, sdk: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for kind in ("package", "handler"):
        try:
            samples = cold_import.measure(env.python, sdk, kind, args.import_repeats, args.timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            rows.append({"sdk": sdk, "kind": kind, "status": "error", "reason": str(exc)})
            continue
        rows.append(
            {
                "sdk": sdk,
                "kind": kind,
                "status": "ok",
                "samples": samples,
                "seconds": statistics.median(s["seconds"] for s in samples),
                "rss_kb": statistics.median(s["rss_kb"] for s in samples),
                "modules": statistics.median(s["modules"] for s in samples),
            }
        )
    return rows


def describe(cell: dict[str, Any]) -> str:
    if cell["status"] in ("not_available", "error") and not cell.get("summary"):
        return f"{cell['status']}: {cell.get('reason', '')[:160]}"
    s = cell.get("summary")
    if not s:
        return f"{cell['status']}: {cell.get('reason', '')}"
    flag = "" if cell["status"] == "ok" else f" [{cell['status']}]"
    return (
        f"wall {s['wall'] * 1e3:9.2f} ms  cpu {s['cpu'] * 1e3:9.2f} ms  calls {s['checkpoint_calls']:6.0f}  "
        f"threads {s['threads_started']:4d}/{s['threads_peak']:<4d} rss {cell.get('peak_rss_kb', 0) / 1024:6.1f} MB  "
        f"runs {s['runs']}{flag}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (development)")
    parser.add_argument("-w", "--workloads", default=",".join(WORKLOADS), help="e.g. W0,W1,W6")
    parser.add_argument(
        "-s", "--sdks", default=",".join(SDKS),
        help=f"e.g. aiodurable,official (also {HTTP_MODE})",
    )  # fmt: skip
    parser.add_argument("--no-http", action="store_true", help=f"skip the {HTTP_MODE} mode")
    parser.add_argument(
        "--merge", action="store_true",
        help="add to the cells already in --results instead of starting afresh",
    )  # fmt: skip
    parser.add_argument("--sizes", help="override every workload's sizes, e.g. 100,1000")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per cell (median)")
    parser.add_argument(
        "--budget", type=float, default=120.0,
        help="seconds of timed runs per cell; fewer runs when one run is slower",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=600.0, help="hard limit per cell (s)")
    parser.add_argument("--import-repeats", type=int, default=7, help="W6 fresh processes")
    parser.add_argument("--results", type=Path, help="results JSON (default benchmarks/results/)")
    parser.add_argument(
        "--doc", type=Path, help=f"markdown report (default {DOC.relative_to(venvs.REPO)})"
    )
    parser.add_argument(
        "--chart", type=Path, help=f"PNG chart (default {CHART.relative_to(venvs.REPO)})"
    )
    parser.add_argument(
        "--service", choices=("all", "none", "only"), default="all",
        help="the latency, cold-start and store-scaling measurements (benchmarks/service_bench.py):"
        " with the workloads, skipped, or alone",
    )  # fmt: skip
    parser.add_argument("--cold-repeats", type=int, default=10, help="cold-start processes")
    parser.add_argument("--no-report", action="store_true", help="measure only")
    parser.add_argument(
        "--report-only", action="store_true", help="rebuild the report from --results"
    )
    parser.add_argument(
        "--profile", action="store_true",
        help="profile aiodurable (py-spy) where it misses a target and add the hot spots",
    )  # fmt: skip
    args = parser.parse_args(argv)
    quick_dir = "quick" if args.quick else "full"
    args.results = args.results or RESULTS / f"{quick_dir}.json"
    if args.quick:
        args.doc = args.doc or RESULTS / "quick.md"
        args.chart = args.chart or RESULTS / "quick.png"
        args.import_repeats = min(args.import_repeats, 3)
    args.doc = args.doc or DOC
    args.chart = args.chart or CHART
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = "python -m benchmarks.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.report_only:
        from benchmarks import report

        report.write(json.loads(args.results.read_text()), args.results, args.doc, args.chart)
        return
    workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    sdks = [s.strip() for s in args.sdks.split(",") if s.strip()]
    for w in workloads:
        if w not in WORKLOADS:
            raise SystemExit(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    for s in sdks:
        if s not in (*SDKS, HTTP_MODE):
            raise SystemExit(f"unknown SDK {s!r}; choose from {', '.join((*SDKS, HTTP_MODE))}")

    envs = {sdk: venvs.ensure(_env_name(sdk)) for sdk in sdks}
    if "aiodurable" in envs and HTTP_MODE not in sdks and not args.no_http:
        if _has_http_backend(envs["aiodurable"]):
            sdks.append(HTTP_MODE)
            envs[HTTP_MODE] = envs["aiodurable"]
        else:
            log(f"[{HTTP_MODE}] aiodurable.local.http is not available: mode skipped")
    versions = {sdk: envs[sdk].version_of(DISTRIBUTIONS[sdk]) for sdk in sdks}
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "command": command.strip(),
            "quick": args.quick,
            "versions": versions,
            "git": _git_describe(),
            "runs": args.runs,
            "budget": args.budget,
            "timeout": args.timeout,
            "load_before": os.getloadavg()[0],
        },
        "cells": [],
        "imports": [],
    }
    started = time.perf_counter()
    if args.service == "only":
        workloads = []
    for workload in workloads:
        spec = WORKLOADS[workload]
        if workload == "W6":
            for sdk in sdks:
                if sdk == HTTP_MODE:
                    continue
                log(f"[{sdk}] W6 cold import x{args.import_repeats}")
                rows = measure_imports(envs[sdk], sdk, args)
                results["imports"].extend(rows)
                for row in rows:
                    if row["status"] == "ok":
                        log(
                            f"    {row['kind']:8s} {row['seconds'] * 1e3:8.1f} ms  {row['modules']:.0f} modules"
                        )
                    else:
                        log(f"    {row['kind']:8s} {row['reason']}")
            continue
        sizes = spec.quick_sizes if args.quick else spec.sizes
        if args.sizes and workload in ("W1", "W2", "W3"):
            sizes = tuple(int(x) for x in args.sizes.split(","))
        for n in sizes:
            for sdk in sdks:
                log(f"[{sdk}] {workload} n={n}")
                cell = measure_cell(envs[sdk], sdk, versions[sdk], workload, n, args)
                results["cells"].append(cell)
                log(f"    {describe(cell)}")
    if args.service != "none":
        from benchmarks import service_bench

        peers = {s: envs[s] for s in SDKS if s in envs}
        results["cold_start"] = service_bench.measure_cold_start(peers, args.cold_repeats, log=log)
        sizes = (1_000, 4_000) if args.quick else service_bench.STORE_SIZES
        results["store_scaling"] = service_bench.measure_store_scaling(sizes, log=log)
        cells = (("W1", 20), ("W3", 200)) if args.quick else service_bench.LATENCY_CELLS
        results["latency"] = service_bench.measure_latency(peers, cells=cells, log=log)
    results["meta"]["elapsed"] = time.perf_counter() - started
    results["meta"]["load_after"] = os.getloadavg()[0]
    if args.profile:
        from benchmarks import profiling

        results["profiles"] = profiling.profile_misses(results, envs.get("aiodurable"))
    if args.merge and args.results.exists():
        results = _merge(json.loads(args.results.read_text()), results)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1))
    log(f"results: {args.results} ({results['meta']['elapsed']:.0f} s)")
    if not args.no_report:
        from benchmarks import report

        report.write(results, args.results, args.doc, args.chart)


def _env_name(sdk: str) -> str:
    return "aiodurable" if sdk == HTTP_MODE else sdk


def _has_http_backend(env: venvs.Env) -> bool:
    done = subprocess.run(
        [env.python, "-c", "import aiodurable.local.http"], capture_output=True, check=False
    )
    return done.returncode == 0


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old`` with the cells and imports of ``new`` added (replacing the same keys)."""
    measured = {(c["sdk"], c["workload"], c["n"]) for c in new["cells"]}
    imported = {(r["sdk"], r["kind"]) for r in new["imports"]}
    old["cells"] = [
        c for c in old["cells"] if (c["sdk"], c["workload"], c["n"]) not in measured
    ] + new["cells"]
    old["imports"] = [r for r in old["imports"] if (r["sdk"], r["kind"]) not in imported] + new[
        "imports"
    ]
    old["meta"]["versions"].update(new["meta"]["versions"])
    old["meta"].setdefault("merged", []).append(new["meta"]["command"])
    for key in ("profiles", "cold_start", "store_scaling", "latency"):
        if new.get(key):
            old[key] = new[key]
    return old


def _git_describe() -> str:
    done = subprocess.run(
        ["git", "-C", str(venvs.REPO), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


if __name__ == "__main__":
    main()
