"""Fixtures of the user-side tests: served backends (stopped at the end) and the hold dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import Served

TARGET = "tests.user_side.workflows:checkout"


@pytest.fixture
def hold_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hold"
    folder.mkdir()
    return folder


@pytest.fixture
def serve(hold_dir: Path) -> Iterator[Any]:
    started: list[Served] = []

    def serve(*args: str) -> Served:
        served = Served(TARGET, *args, env={"HOLD_DIR": str(hold_dir)})
        started.append(served)
        return served

    yield serve
    for served in started:
        served.stop()
