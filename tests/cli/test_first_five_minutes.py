"""What a new user types first: `make demo`, then the commands the README shows."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The `aiodurable` script of the environment the tests run in (what `.venv/bin/activate`
#: puts on PATH).
AIODURABLE = Path(sys.executable).parent / "aiodurable"


def _shell_lines(document: str) -> list[str]:
    text = (ROOT / document).read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)
    return [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]


def test_the_demo_runs_as_make_demo_runs_it(tmp_path: Path) -> None:
    recipe = re.search(r"^demo:.*\n\t(.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert recipe is not None
    assert recipe[1] == "$(BIN)/python examples/order_workflow.py $(DEMO_ARGS)"
    demo = subprocess.run(
        [sys.executable, "examples/order_workflow.py", "--store", str(tmp_path / "demo.db")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert demo.returncode == 0, demo.stderr
    assert "status SUCCEEDED" in demo.stdout and "ExecutionSucceeded" in demo.stdout


def test_the_readme_says_how_to_put_aiodurable_on_path() -> None:
    lines = _shell_lines("README.md")
    assert ". .venv/bin/activate" in lines
    assert AIODURABLE.exists(), "the package's console script is not installed"


@pytest.mark.parametrize(
    "line", [line for line in _shell_lines("README.md") if line.startswith("aiodurable ")]
)
def test_every_aiodurable_command_in_the_readme_works_when_pasted(line: str) -> None:
    words = shlex.split(line)
    ran = subprocess.run(
        [str(AIODURABLE), *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "SUCCEEDED after" in ran.stdout
