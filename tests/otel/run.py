"""``make conformance-otel``: AWS's OpenTelemetry requirements on the local backend.

Prints one table per suite (passed / failed / n/a with the reason), the errors of the
failed ones, and a last line ``otel TOTAL <passed>/<all>``. Exits non-zero when one
failed.
"""

from __future__ import annotations

import asyncio
import sys

from .harness import SUITES, Outcome, requirements, run_requirement


async def run_all() -> list[Outcome]:
    """Every requirement's outcome, run one after another (they share one clock slot)."""
    return [await run_requirement(requirement) for requirement in requirements().values()]


def table(outcomes: list[Outcome]) -> str:
    """One table per suite and the TOTAL line."""
    lines: list[str] = []
    for suite in SUITES:
        rows = [o for o in outcomes if o.requirement.suite == suite]
        passed = sum(o.verdict == "passed" for o in rows)
        lines += [f"{suite}: {passed}/{len(rows)} passed", "| requirement | verdict | note |"]
        lines.append("|---|---|---|")
        for o in rows:
            note = o.errors[0] if o.errors else o.requirement.spec.get("description", "")
            lines.append(f"| {o.requirement.id} | {o.verdict} | {note} |")
        lines.append("")
    passed = sum(o.verdict == "passed" for o in outcomes)
    failed = sum(o.verdict == "failed" for o in outcomes)
    na = sum(o.verdict == "n/a" for o in outcomes)
    lines.append(f"otel passed {passed}, failed {failed}, not applicable {na}")
    lines.append(f"otel TOTAL {passed}/{len(outcomes)}")
    return "\n".join(lines)


def main() -> int:
    outcomes = asyncio.run(run_all())
    for outcome in outcomes:
        if outcome.verdict == "failed":
            print(outcome.report(), end="\n\n")
    print(table(outcomes))
    return 1 if any(o.verdict == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
