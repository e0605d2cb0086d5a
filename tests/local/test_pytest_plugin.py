"""The pytest plugin's ``local_runner`` fixture makes runners and closes them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiodurable.testing.pytest_plugin import RunnerFactory

from .workflows import approval


async def test_the_fixture_gives_a_runner_that_answers_callbacks(
    local_runner: RunnerFactory,
) -> None:
    runner = await local_runner(approval)
    runner.on_callback("approve", "ok")
    run = await runner.run({"order_id": "o-4"})

    assert run.succeeded
    assert run.result == 'o-4: "ok"'


async def test_runners_of_one_test_are_independent(local_runner: RunnerFactory) -> None:
    first: Any = await local_runner(approval)
    second: Any = await local_runner(approval, function_name="other")

    assert first.backend is not second.backend
    assert second.backend.function_names() == ["other"]


# -- plain pytest in a project with no configuration ----------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def _getting_started(directory: Path) -> None:
    """The module and the test of docs/getting-started.md, as a reader saves them."""
    text = (ROOT / "docs" / "getting-started.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    (directory / "greet.py").write_text(blocks[0])
    (directory / "test_greet.py").write_text(next(b for b in blocks if "async def test_" in b))


MORE_TESTS = """
import asyncio
import pytest

from greet import handler


@pytest.fixture(scope="module")
async def loop_name():
    yield type(asyncio.get_running_loop()).__module__  # raises on trio


async def test_runs_on_asyncio(local_runner, loop_name) -> None:
    assert loop_name.startswith("asyncio")
    runner = await local_runner(handler)
    run = await runner.run({"user": "bo", "email": "bo@example.com"})
    assert run.succeeded


@pytest.mark.anyio
async def test_marked_for_anyio_runs_once_on_asyncio() -> None:
    asyncio.get_running_loop()
"""


def test_plain_pytest_runs_the_getting_started_test_on_asyncio_only(tmp_path: Path) -> None:
    import trio  # noqa: F401  (installed: anyio alone would also run every test on it)

    _getting_started(tmp_path)
    (tmp_path / "test_more.py").write_text(MORE_TESTS)
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "3 passed" in ran.stdout and "trio" not in ran.stdout
    assert "warning" not in ran.stdout.lower()
