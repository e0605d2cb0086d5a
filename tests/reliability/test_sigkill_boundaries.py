"""SIGKILL at every checkpoint boundary: a process running a representative workflow on
the SQLite-backed local backend is killed right before, or right after, each checkpoint
call; a new process on the same file resumes the execution.

For every boundary the resumed run must end with the uninterrupted run's status and
result, every at-most-once attempt ran at most once (its marker file is created with
O_EXCL), and no step body started after its success had been committed.
"""

from __future__ import annotations

from pathlib import Path

from tests.reliability.worker_process import run_worker_script

WORKER = Path(__file__).with_name("sigkill_worker.py")


async def run_worker(store: Path, markers: Path, kill_at: int, mode: str) -> tuple[int, str]:
    return await run_worker_script(WORKER, str(store), str(markers), str(kill_at), mode)


def result_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output
    return lines[-1]


async def test_every_checkpoint_boundary_survives_sigkill(tmp_path: Path) -> None:
    base = tmp_path / "baseline"
    (base / "m").mkdir(parents=True)
    code, output = await run_worker(base / "db.sqlite", base / "m", 0, "before")
    assert code == 0, output
    expected = result_line(output)
    assert expected.startswith("RESULT SUCCEEDED ")
    boundaries = int(next(line for line in output.splitlines() if line.startswith("CALLS"))[6:])
    assert boundaries >= 10

    survived = 0
    for mode in ("before", "after"):
        for boundary in range(1, boundaries + 1):
            case = tmp_path / f"{mode}-{boundary}"
            markers = case / "m"
            markers.mkdir(parents=True)
            killed, output = await run_worker(case / "db.sqlite", markers, boundary, mode)
            assert killed == -9, f"{mode} {boundary}: the worker was not killed\n{output}"
            code, output = await run_worker(case / "db.sqlite", markers, 0, mode)
            assert code == 0, f"{mode} {boundary}: the restarted worker failed\n{output}"
            assert result_line(output) == expected, f"{mode} {boundary}"
            violations = sorted(p.name for p in markers.glob("violation-*"))
            assert violations == [], f"{mode} {boundary}: a completed step ran again"
            survived += 1
    print(f"SIGKILL: {survived}/{2 * boundaries} checkpoint boundaries survived")
    assert survived == 2 * boundaries
