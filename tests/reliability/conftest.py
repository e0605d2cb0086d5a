"""Reliability fixtures: the HTTP fuzz reports how many cases each route ran."""

from __future__ import annotations

import pytest

_CASES = pytest.StashKey[dict[str, int]]()


@pytest.fixture(scope="session")
def fuzz_cases(pytestconfig: pytest.Config) -> dict[str, int]:
    """Route name → requests sent by the HTTP fuzz; printed in the terminal summary."""
    return pytestconfig.stash.setdefault(_CASES, {})


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    cases = config.stash.get(_CASES, {})
    if cases:
        terminalreporter.section("HTTP fuzz: cases per route")
        for route, count in cases.items():
            terminalreporter.write_line(f"{route:<40} {count:>8,}")
