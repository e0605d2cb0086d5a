"""aiodurable against an earlier revision of itself, measured in the same run.

The earlier revision is checked out into a temporary git worktree; both are run by the
same interpreter and the same probe (:mod:`benchmarks.probe`), the earlier one with its
``src/`` first on ``PYTHONPATH``. The two alternate, one fresh process per sample, so
load on the machine falls on both alike.

    python -m benchmarks.compare_revisions --before c006492 -w W1:1000,W2:10000,W3:10000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import venvs

__all__ = ["main"]


def _probe(src: Path, workload: str, n: int, replay: Path | None, runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{venvs.REPO}"}
    command = [sys.executable, "-m", "benchmarks.probe", "--sdk", "aiodurable"]
    command += ["--workload", workload, "--n", str(n), "--runs", str(runs), "--budget", "600"]
    if replay is not None:
        command += ["--replay", str(replay)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    walls: list[float] = []
    for line in done.stdout.splitlines():
        event = json.loads(line)
        if event.get("event") == "error":
            raise RuntimeError(event.get("traceback") or event.get("message"))
        if event.get("event") == "run":
            walls.append(float(event["wall"]))
    return walls


def _capture(src: Path, n: int, target: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{venvs.REPO}"}
    command = [sys.executable, "-m", "benchmarks.probe", "--sdk", "aiodurable"]
    command += ["--workload", "W1", "--n", str(n), "--capture", str(target)]
    subprocess.run(command, env=env, capture_output=True, text=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the earlier revision (git rev)")
    parser.add_argument("-w", "--workloads", default="W1:1000,W2:10000,W3:10000")
    parser.add_argument("--rounds", type=int, default=5, help="alternating processes per side")
    parser.add_argument("--runs", type=int, default=3, help="timed invocations per process")
    args = parser.parse_args()
    after = venvs.REPO / "src"
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(
            ["git", "-C", str(venvs.REPO), "worktree", "add", "--detach", str(tree), args.before],
            check=True,
            capture_output=True,
        )
        try:
            rows = []
            for spec in args.workloads.split(","):
                workload, _, size = spec.partition(":")
                n = int(size or 1000)
                replay = None
                if workload == "W2":
                    replay = Path(tmp) / f"replay-{n}.json"
                    _capture(after, n, replay)
                samples: dict[str, list[float]] = {"before": [], "after": []}
                for _ in range(args.rounds):
                    for side, src in (("before", tree / "src"), ("after", after)):
                        samples[side] += _probe(src, workload, n, replay, args.runs)
                before = statistics.median(samples["before"])
                after_s = statistics.median(samples["after"])
                rows.append((workload, n, before, after_s))
                print(
                    f"{workload} n={n}: before {before * 1000:.2f} ms, after "
                    f"{after_s * 1000:.2f} ms ({after_s / before:.3f}×)",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            subprocess.run(
                ["git", "-C", str(venvs.REPO), "worktree", "remove", "--force", str(tree)],
                check=False,
                capture_output=True,
            )
    print(f"| workload | n | {args.before} | this tree | after ÷ before |")
    print("|---|---:|---:|---:|---:|")
    for workload, n, before, after_s in rows:
        print(
            f"| {workload} | {n:,} | {before * 1000:.2f} ms | {after_s * 1000:.2f} ms "
            f"| {after_s / before:.3f} |"
        )


if __name__ == "__main__":
    main()
