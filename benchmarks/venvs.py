"""The runner's virtualenvs under ``benchmarks/.venvs/``: one per SDK, one for tooling.

Each is created with the interpreter running the runner and installed with pip; a stamp
file records what was installed, so a venv is rebuilt only when its requirements change
(for aiodurable: when ``pyproject.toml`` changes; the source itself is an editable
install of this repository, so edits under ``src/`` need no reinstall).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPO", "VENVS", "Env", "ensure"]

REPO = Path(__file__).resolve().parent.parent
VENVS = REPO / "benchmarks" / ".venvs"

OFFICIAL = "aws-durable-execution-sdk-python==3.0.0"
COMMUNITY = "async-durable-execution==2.5.0"
TOOLING = ("matplotlib>=3.8", "py-spy>=0.3.14")


@dataclass(frozen=True)
class Env:
    name: str
    path: Path

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def version_of(self, distribution: str) -> str:
        done = subprocess.run(
            [
                self.python,
                "-c",
                f"import importlib.metadata as m; print(m.version({distribution!r}))",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() or "?"


def _requirements(name: str) -> list[str]:
    if name == "aiodurable":
        return ["-e", str(REPO)]
    if name == "official":
        return [OFFICIAL]
    if name == "community":
        return [COMMUNITY]
    if name == "tooling":
        return list(TOOLING)
    raise KeyError(name)


def _stamp_text(name: str) -> str:
    text = " ".join(_requirements(name)) + f"\npython {sys.version.split()[0]}\n"
    if name == "aiodurable":
        text += hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest() + "\n"
    return text


def ensure(name: str, *, log: bool = True) -> Env:
    """The venv ``name``, created or refreshed as needed."""
    env = Env(name, VENVS / name)
    stamp = env.path / ".bench-installed"
    wanted = _stamp_text(name)
    if stamp.exists() and stamp.read_text() == wanted and Path(env.python).exists():
        return env
    if log:
        print(f"[venv] preparing {env.path} ({' '.join(_requirements(name))})", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(env.path)
    subprocess.run(
        [
            env.python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *_requirements(name),
        ],
        check=True,
    )
    stamp.write_text(wanted)
    return env
