"""SIGKILL in the middle of every compensation, every cleanup and a timed-out attempt of
a saga on the SQLite-backed local backend; a new process on the same file resumes.

Each resumed run must end with the uninterrupted run's status, result and actions; an
at-most-once compensation runs at most once per attempt (its marker file is created with
O_EXCL), no body starts after its success was recorded, and the timed-out attempt's late
result is never the step's result (``quote-2`` is).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.reliability.worker_process import run_worker_script

WORKER = Path(__file__).with_name("scope_sigkill_worker.py")
KILL_POINTS = ["undo-seat", "refund", "close-session", "release-lock", "quote-mid", "quote-late"]


async def run_worker(case: Path, kill_in: str) -> tuple[int, str]:
    markers = case / "m"
    markers.mkdir(parents=True, exist_ok=True)
    return await run_worker_script(WORKER, str(case / "db.sqlite"), str(markers), kill_in)


def outcome(output: str) -> list[str]:
    lines = [line for line in output.splitlines() if line.startswith(("RESULT ", "ACTIONS "))]
    assert len(lines) == 2, output
    return lines


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    code, output = asyncio.run(run_worker(tmp_path_factory.mktemp("baseline"), "none"))
    assert code == 0, output
    lines = outcome(output)
    assert lines == [
        'RESULT SUCCEEDED {"outcome":"rolled-back","error":"no courier for o-1","quote":"quote-2"}',
        "ACTIONS close-session:SUCCEEDED refund:SUCCEEDED release-lock:SUCCEEDED "
        "undo-seat:SUCCEEDED",
    ]
    return lines


@pytest.mark.parametrize("kill_in", KILL_POINTS)
async def test_a_sigkill_inside_an_action_or_a_timed_out_attempt_resumes_to_the_same_end(
    tmp_path: Path, baseline: list[str], kill_in: str
) -> None:
    killed, output = await run_worker(tmp_path, kill_in)
    assert killed == -9, f"{kill_in}: the worker was not killed\n{output}"
    assert (tmp_path / "m" / f"killed-{kill_in}").exists()

    code, output = await run_worker(tmp_path, "none")

    assert code == 0, f"{kill_in}: the restarted worker failed\n{output}"
    assert outcome(output) == baseline
    assert sorted(p.name for p in (tmp_path / "m").glob("violation-*")) == []
