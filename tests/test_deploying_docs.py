"""docs/deploying.md's build commands, run as written: the zip from a checkout, and the
container recipe's install step (Docker itself is not run: its `RUN` line is, with
``LAMBDA_TASK_ROOT`` a directory here).

The zip is built for Lambda's platform (Python 3.12, manylinux x86_64), so it is
inspected rather than imported; tests/test_lambda_package.py runs a handler from it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "deploying.md"

_APP = """
from aiodurable import DurableContext, durable_execution


async def _one() -> str:
    return "ok"


@durable_execution
async def handler(event: dict[str, str], ctx: DurableContext) -> str:
    return await ctx.step(_one, name="one")
"""


def _block(tag: str) -> str:
    """The fenced block that follows ``<!-- tested: ... (tag) -->``."""
    text = DOC.read_text()
    found = re.search(
        rf"<!-- tested: tests/test_deploying_docs.py \({tag}\) -->\n```\w+\n(.*?)```", text, re.S
    )
    assert found, f"docs/deploying.md has no tested {tag} block"
    return found.group(1)


def _workspace(tmp_path: Path) -> dict[str, str]:
    """The layout the doc assumes: the checkout in aiodurable/, the code in myapp/; and
    ``python3`` and ``pip`` are this interpreter's."""
    (tmp_path / "aiodurable").symlink_to(ROOT)
    app = tmp_path / "myapp"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "workflows.py").write_text(_APP)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python3", "python"):
        (bin_dir / name).symlink_to(sys.executable)
    (bin_dir / "pip").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pip "$@"\n')
    (bin_dir / "pip").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def _sh(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    return done


@pytest.mark.slow
def test_the_zip_commands_build_a_lambda_package_from_a_checkout(tmp_path: Path) -> None:
    env = _workspace(tmp_path)
    done = _sh(_block("zip"), tmp_path, env)

    archive = tmp_path / "lambda.zip"
    assert f"{archive.name}: " in done.stdout  # the size breakdown
    with zipfile.ZipFile(archive) as package:
        names = set(package.namelist())
    assert "myapp/workflows.py" in names
    assert "aiodurable/handler.py" in names
    assert any(n.startswith("botocore/data/lambda/") for n in names)
    assert not any(n.startswith("botocore/data/ec2/") for n in names)
    assert not any(n.startswith(("rich/", "pygments/", "aiodurable/cli/")) for n in names)
    # Lambda's platform: CPython 3.12 extensions, whatever this machine runs.
    assert any(re.match(r"msgspec/_core\.cpython-312-x86_64-linux-gnu\.so$", n) for n in names)


@pytest.mark.slow
def test_the_container_recipe_installs_the_wheel_and_the_handler_imports(tmp_path: Path) -> None:
    env = _workspace(tmp_path)
    # The wheel, as the recipe's first sentence builds it.
    _sh("python3 -m pip wheel --no-deps --wheel-dir dist ./aiodurable", tmp_path, env)
    recipe = _block("container")
    run = next(line for line in recipe.splitlines() if line.startswith("RUN "))
    copies = [line.split()[1:] for line in recipe.splitlines() if line.startswith("COPY ")]
    assert ["dist/", "/tmp/dist/"] in copies
    task = tmp_path / "task"
    task.mkdir()
    # The image's paths, here: /tmp/dist/ is where COPY put the wheel.
    command = run.removeprefix("RUN ").replace("/tmp/dist/", f"{tmp_path}/dist/")
    _sh(command, tmp_path, {**env, "LAMBDA_TASK_ROOT": str(task)})
    _sh(f"cp -r myapp {task}/", tmp_path, env)

    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import myapp.workflows, aiodurable, botocore\n"
        "assert aiodurable.__file__.startswith(sys.argv[1])\n"
        "print(type(myapp.workflows.handler).__name__)\n"
    )
    clean = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(task)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert clean.stdout.strip() == "DurableHandler"
