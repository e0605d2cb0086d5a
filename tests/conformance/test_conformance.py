"""AWS's conformance requirements, each run on each of our backends.

Every requirement YAML of ``aws-durable-execution-conformance-tests`` is one test per
backend: the execution it describes must produce the expected history, result and log
lines, judged by the package's own matchers. Requirements we declared unsupported
(``manifest.json`` ``gaps``/``backend_gaps``) are skipped with their reason.

A backend runs all selected requirements once, concurrently, when its first test needs
an outcome; each test then reports its own requirement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from .requirements import Manifest, all_requirements
from .runner import Outcome
from .suite import BACKENDS, QUICK_BACKENDS, BackendUnavailable, run_on

#: On the process backends (one awslambdaric process per function, slower to start), a
#: smoke subset: a step, a crash (1-17), a wait, a callback and a chained invoke. The full
#: runs are ``make conformance``.
SMOKE = ("1-1", "1-17", "2-1", "4-1", "5-1")
CASES = [(backend, rid) for backend in QUICK_BACKENDS for rid in all_requirements()] + [
    (backend, rid) for backend in BACKENDS if backend not in QUICK_BACKENDS for rid in SMOKE
]

Outcomes = Callable[[str], dict[str, Outcome]]


@pytest.fixture(scope="session")
def outcomes(request: pytest.FixtureRequest) -> Outcomes:
    """``outcomes(backend)``: the outcomes of this session's selected requirements."""
    cache: dict[str, dict[str, Outcome] | BackendUnavailable] = {}
    manifest = Manifest.load()

    def selected(backend: str) -> list[str]:
        ids = []
        for item in request.session.items:
            spec = getattr(item, "callspec", None)
            if spec is None or spec.params.get("backend") != backend:
                continue
            rid = spec.params["requirement_id"]
            if manifest.gap(rid, backend) is None:
                ids.append(rid)
        return ids

    def get(backend: str) -> dict[str, Outcome]:
        if backend not in cache:
            try:
                cache[backend] = asyncio.run(run_on(backend, selected(backend)))
            except BackendUnavailable as unavailable:
                cache[backend] = unavailable
        result = cache[backend]
        if isinstance(result, BackendUnavailable):
            pytest.skip(f"{backend} backend unavailable: {result}")
        return result

    return get


@pytest.mark.conformance
@pytest.mark.parametrize(("backend", "requirement_id"), CASES, ids=[f"{b}-{r}" for b, r in CASES])
def test_requirement_holds(backend: str, requirement_id: str, outcomes: Outcomes) -> None:
    gap = Manifest.load().gap(requirement_id, backend)
    if gap is not None:
        pytest.skip(f"declared gap: {gap}")
    outcome = outcomes(backend)[requirement_id]
    assert outcome.verdict == "passed", outcome.report()
