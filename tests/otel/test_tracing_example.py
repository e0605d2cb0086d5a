"""examples/tracing.py prints the span tree its docstring promises."""

from __future__ import annotations

import re
from datetime import timedelta

from examples import tracing

LINE = re.compile(
    r"^(?P<indent>[│├└─ ]*)(?P<name>.+?)  \[(?P<status>\w+)\] (?P<detail>\S*)  \+.* for (?P<took>.+)$"
)


def _rows(tree: str) -> list[dict[str, str]]:
    rows = []
    for line in tree.splitlines():
        match = LINE.match(line)
        assert match is not None, line
        rows.append(match.groupdict())
    return rows


async def test_the_execution_view_is_one_workflow_tree_beside_the_invocations() -> None:
    result, spans = await tracing.traced_run("execution")

    assert result == "o-42 shipped, paid by PAY-1"
    rows = _rows(tracing.span_tree(spans))
    assert [r["name"] for r in rows if not r["indent"]] == [
        "Invocation",
        "Workflow",
        "Invocation",
        "Invocation",
    ]
    assert [r["name"] for r in rows if r["indent"] in ("├── ", "└── ")] == [
        "reserve-stock",
        "charge",
        "cool-off",
        "notify",
    ]
    attempts = [(r["name"], r["status"]) for r in rows if r["name"].startswith("charge attempt")]
    assert attempts == [("charge attempt 1", "ERROR"), ("charge attempt 2", "OK")]
    (wait,) = [r for r in rows if r["name"] == "cool-off"]
    assert wait["took"] == str(timedelta(days=1))
    assert len({s.context.trace_id for s in spans}) == 1


async def test_the_invocation_view_is_one_tree_per_invocation() -> None:
    _, spans = await tracing.traced_run("invocation")

    rows = _rows(tracing.span_tree(spans))
    invocations = [r["detail"] for r in rows if r["name"] == "Invocation"]
    assert invocations == ["PENDING", "PENDING", "SUCCEEDED"]
    # the wait is still open when the second invocation ends (UNSET); the third ends it
    assert [r["status"] for r in rows if r["name"] == "cool-off"] == ["UNSET", "OK"]
