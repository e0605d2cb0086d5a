"""Hot spots of aiodurable where it misses a target (``python -m benchmarks.run --profile``).

Invocation workloads are sampled with py-spy (from the tooling venv) while the probe runs
them; only samples inside an invocation count. The import target is broken down with
``python -X importtime``.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from benchmarks import venvs

__all__ = ["import_breakdown", "profile_misses", "sample"]

TOP = 12
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+):(?P<line>\d+)\)$")
#: Per missed target: the workload and size to sample.
_PROFILED = {"W1": ("W1", 5_000), "W2": ("W2", 10_000), "W3": ("W3", 10_000), "W5": ("W5", 50)}


def _short(path: str) -> str:
    repo = str(venvs.REPO) + "/"
    if path.startswith(repo):
        return path[len(repo) :]
    marker = "site-packages/"
    if marker in path:
        return path.split(marker, 1)[1]
    stdlib = sysconfig.get_paths()["stdlib"] + "/"
    if path.startswith(stdlib):
        return "stdlib/" + path[len(stdlib) :]
    return path


def sample(
    tooling: venvs.Env, env: venvs.Env, workload: str, n: int, replay: Path | None, timeout: float
) -> dict[str, Any]:
    """py-spy samples of the timed invocations of one workload."""
    raw = venvs.REPO / "benchmarks" / "results" / f"profile-{workload}-{n}.txt"
    raw.parent.mkdir(parents=True, exist_ok=True)
    probe = [env.python, "-m", "benchmarks.probe", "--sdk", "aiodurable", "--workload", workload]
    probe += ["--n", str(n), "--runs", "5", "--budget", "30"]
    if replay is not None:
        probe += ["--replay", str(replay)]
    command = [str(tooling.bin / "py-spy"), "record", "--rate", "1000", "--format", "raw"]
    command += ["--full-filenames", "--output", str(raw), "--", *probe]
    done = subprocess.run(
        command, cwd=venvs.REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0 or not raw.exists():
        raise RuntimeError((done.stderr or done.stdout).strip()[-800:])
    self_lines: collections.Counter[tuple[str, str]] = collections.Counter()
    inclusive: collections.Counter[tuple[str, str]] = collections.Counter()
    components: collections.Counter[str] = collections.Counter()
    total = 0
    for entry in raw.read_text().splitlines():
        stack, _, count_text = entry.rpartition(" ")
        if "Adapter.invoke" not in stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                frames.append(match)
        if not frames:
            continue
        total += count
        inner = frames[-1]
        components[_component(_short(inner["file"]))] += count
        self_lines[(inner["function"], f"{_short(inner['file'])}:{inner['line']}")] += count
        seen = set()
        for frame in frames:
            key = (frame["function"], _short(frame["file"]))
            if key not in seen:
                seen.add(key)
                inclusive[key] += count
    if total == 0:
        raise RuntimeError("no samples inside an invocation")
    rows = [
        {
            "function": f,
            "where": where,
            "self": 100 * c / total,
            "total": 100 * inclusive_of(inclusive, f, where) / total,
        }
        for (f, where), c in self_lines.most_common(TOP)
    ]
    functions = [
        {"function": f, "where": where, "self": 0.0, "total": 100 * c / total}
        for (f, where), c in inclusive.most_common(60)
        if where.startswith("src/aiodurable/")
    ][:TOP]
    shares = [
        {"component": name, "self": 100 * c / total} for name, c in components.most_common(TOP)
    ]
    return {"samples": total, "rows": rows, "functions": functions, "components": shares}


def _component(where: str) -> str:
    """Where a sample's innermost frame lives: an aiodurable module, asyncio, the harness…"""
    if where.startswith("src/aiodurable/"):
        return where
    if where.startswith("benchmarks/"):
        return "benchmark harness (fake service, workflow bodies)"
    if where.startswith(("stdlib/asyncio/", "stdlib/selectors")):
        return "asyncio event loop (stdlib)"
    if where.startswith("stdlib/"):
        return "other stdlib (" + where.split("/")[1].removesuffix(".py") + ")"
    return where.split("/")[0]


def inclusive_of(inclusive: collections.Counter[tuple[str, str]], function: str, where: str) -> int:
    return inclusive[(function, where.rsplit(":", 1)[0])]


def import_breakdown(env: venvs.Env, module: str = "aiodurable") -> dict[str, Any]:
    """``-X importtime`` of ``import <module>``: the slowest modules by own and total time."""
    done = subprocess.run(
        [env.python, "-I", "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[0].startswith("import time:"):
            continue
        try:
            own = int(parts[0].split(":")[1])
            cumulative = int(parts[1])
        except ValueError:
            continue
        rows.append({"module": parts[2].strip(), "own_us": own, "cumulative_us": cumulative})
    total = max((r["cumulative_us"] for r in rows), default=0)
    return {
        "total_us": total,
        "by_own": sorted(rows, key=lambda r: -r["own_us"])[:TOP],
        "by_cumulative": sorted(rows, key=lambda r: -r["cumulative_us"])[: TOP + 3],
    }


def profile_misses(results: dict[str, Any], env: venvs.Env | None) -> list[dict[str, Any]]:
    """Profile every target aiodurable misses in ``results``."""
    from benchmarks import report

    if env is None:
        return []
    tooling = venvs.ensure("tooling")
    profiles: list[dict[str, Any]] = []
    for workload, target, measured, ok in report.evaluate_targets(results):
        if ok is not False:
            continue
        title = f"{workload}: {target} (measured {measured})"
        print(f"[profile] {title}", file=sys.stderr)
        try:
            if workload == "W6":
                profiles.append({"title": title, "kind": "imports", **import_breakdown(env)})
                continue
            if workload not in _PROFILED:
                continue
            name, n = _PROFILED[workload]
            if results["meta"].get("quick"):
                n = max(c["n"] for c in results["cells"] if c["workload"] == name)
            replay = None
            if name == "W2":
                replay = (
                    venvs.REPO
                    / "benchmarks"
                    / "results"
                    / "replay"
                    / (f"aiodurable-{results['meta']['versions']['aiodurable']}-{n}.json")
                )
            profiles.append(
                {"title": title, "kind": "samples", **sample(tooling, env, name, n, replay, 600)}
            )
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            profiles.append({"title": title, "error": str(exc)})
    return profiles
