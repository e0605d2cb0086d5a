"""``make conformance``: run every requirement on every backend and print a table.

    python -m tests.conformance.run [--backend NAME ...] [--verbose] [ID ...]

Backends: local, emulator, runtime-api, official, emulator-official (see suite.py).

Exits non-zero when a requirement that is not a declared gap failed. The runtime's own
warnings (the faulty plugins of 10-4 and 10-17 make six each per backend, by design) go to
:data:`RUNTIME_LOG`, and what the handlers print to stdout (their log lines, as a Lambda
function's output) to :data:`FUNCTION_OUTPUT`, rather than between the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

from .requirements import all_requirements
from .runner import Outcome
from .suite import BACKENDS, BackendUnavailable, run_on

RUNTIME_LOG = Path(os.environ.get("CONFORMANCE_RUNTIME_LOG", "/tmp/aiodurable-conformance.log"))
FUNCTION_OUTPUT = Path(
    os.environ.get("CONFORMANCE_FUNCTION_OUTPUT", "/tmp/aiodurable-conformance-stdout.log")
)


def table(results: dict[str, dict[str, Outcome] | str]) -> str:
    """One row per suite and backend: passed, failed, declared gaps."""
    rows = [("suite", "backend", "passed", "failed", "gaps")]
    totals: dict[str, Counter[str]] = {}
    for backend, outcomes in results.items():
        if isinstance(outcomes, str):
            rows.append(("*", backend, "-", "-", f"unavailable: {outcomes}"))
            continue
        by_suite: dict[str, Counter[str]] = {}
        for outcome in outcomes.values():
            by_suite.setdefault(outcome.requirement.suite, Counter())[outcome.verdict] += 1
        total = totals.setdefault(backend, Counter())
        for suite in sorted(by_suite, key=lambda s: _suite_order(s)):
            counts = by_suite[suite]
            total.update(counts)
            rows.append(
                (suite, backend, str(counts["passed"]), str(counts["failed"]), str(counts["gap"]))
            )
        rows.append(
            ("TOTAL", backend, str(total["passed"]), str(total["failed"]), str(total["gap"]))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join([*(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])), row[4]])
        for row in rows
    )


def _suite_order(suite: str) -> int:
    first = next(r for r in all_requirements().values() if r.suite == suite)
    return int(first.id.split("-")[0])


async def main(backends: list[str], ids: list[str], verbose: bool, output: TextIO) -> int:
    """Run, then print the failures and the table; handlers print to ``output``."""
    results: dict[str, dict[str, Outcome] | str] = {}
    for backend in backends:
        try:
            with contextlib.redirect_stdout(output):
                ran = await run_on(backend, ids)
        except BackendUnavailable as unavailable:
            results[backend] = str(unavailable)
            continue
        results[backend] = ran
    failed = 0
    for backend, outcomes in results.items():
        if isinstance(outcomes, str):
            continue
        for outcome in outcomes.values():
            if outcome.verdict == "failed":
                failed += 1
                first = outcome.errors[0] if outcome.errors else ""
                print(
                    outcome.report()
                    if verbose
                    else f"FAILED {outcome.requirement.id} on {backend}: {first}"
                )
    print(table(results))
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--verbose", action="store_true", help="print each failure in full")
    parser.add_argument("ids", nargs="*", help="requirement ids (default: all)")
    args = parser.parse_args()
    logging.basicConfig(filename=RUNTIME_LOG, filemode="w", level=logging.WARNING)
    chosen = args.ids or list(all_requirements())
    with FUNCTION_OUTPUT.open("w", encoding="utf-8") as function_output:
        code = asyncio.run(
            main(args.backend or list(BACKENDS), chosen, args.verbose, function_output)
        )
    sys.exit(code)
