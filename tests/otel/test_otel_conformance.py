"""AWS's OpenTelemetry conformance requirements (otel-execution, otel-invocation,
otel-long-running), each run on the local backend and judged by the suite's validators."""

from __future__ import annotations

import pytest

from .harness import NOT_APPLICABLE, requirements, run_requirement

pytestmark = pytest.mark.conformance


@pytest.mark.parametrize("requirement_id", list(requirements()))
async def test_requirement(requirement_id: str) -> None:
    requirement = requirements()[requirement_id]
    outcome = await run_requirement(requirement)
    if outcome.verdict == "n/a":
        assert requirement.scenario in NOT_APPLICABLE
        pytest.skip(outcome.errors[0])
    assert outcome.verdict == "passed", outcome.report()


def test_the_suite_has_the_44_published_requirements() -> None:
    suites = [r.suite for r in requirements().values()]
    assert (suites.count("otel-execution"), suites.count("otel-invocation")) == (20, 20)
    assert suites.count("otel-long-running") == 4
