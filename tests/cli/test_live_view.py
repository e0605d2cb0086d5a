"""The live view of ``aiodurable run``, seen in a real terminal (tmux) and through a pipe.

The terminal runs are a 200-item map whose items wait and retry: the test types the
command into a tmux session of a fixed size and reads the screen back.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiodurable.cli import main
from tests import system_tools

ROOT = Path(__file__).resolve().parents[2]
BATCH = "tests.cli.flows:batch"


class Terminal:
    """A tmux session of its own (own server socket), 120 × 50 characters."""

    def __init__(self, name: str) -> None:
        self.socket = name
        self._tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "50", "-c", str(ROOT))

    def _tmux(self, *args: str) -> str:
        command = ["tmux", "-u", "-f", "/dev/null", "-L", self.socket, *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout

    def run(self, *argv: str) -> None:
        """Type a command; when it ends, the shell prints its status and signals ``done``."""
        line = shlex.join([sys.executable, "-m", "aiodurable.cli", "run", *argv])
        signal_done = shlex.join(["tmux", "-L", self.socket, "wait-for", "-S", "done"])
        self._tmux("send-keys", "-t", "t", f"clear; {line}; echo EXIT:$?; {signal_done}", "Enter")

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def screen_when(self, pattern: str, timeout: float = 15) -> str:
        """The screen, once it shows ``pattern`` (read 20 times a second)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            time.sleep(0.05)  # polling a terminal: tmux has no "screen changed" event
        raise AssertionError(f"the screen never showed {pattern!r}:\n{self.screen()}")

    def finished_screen(self) -> str:
        self._tmux("wait-for", "done")
        return self.screen()

    def close(self) -> None:
        self._tmux("kill-server")


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    system_tools.tmux()  # skips, saying what to install, where tmux is missing
    term = Terminal(f"aiodurable-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield term
    finally:
        term.close()


def test_a_200_item_map_is_a_live_tree_with_counts_countdowns_and_retry_errors(
    terminal: Terminal,
) -> None:
    terminal.run(
        BATCH, "--input", json.dumps({"items": 200, "wait_seconds": 3, "retry_seconds": 2})
    )

    during = terminal.screen_when(r"ends in \d")
    assert re.search(r"^tests\.cli\.flows:batch\s+RUNNING\s+elapsed \d", during, re.M)
    counts = re.search(
        r"map score-items\s+RUNNING\s+done (\d+) · running (\d+) · failed 0 · total 200", during
    )
    assert counts and int(counts[1]) + int(counts[2]) == 200 and int(counts[2]) > 0
    # Items waiting or retrying are shown under the map, the rest summed up in one line.
    assert re.search(r"item map-item-0\s+RUNNING", during)
    assert re.search(r"wait cool-down\s+WAITING\s+ends in \d", during)
    assert re.search(r"… \d+ more: \d+ done, 0 failed", during)
    retrying = terminal.screen_when(r"RETRYING\s+attempt 2 in \d")
    assert re.search(
        r"step score\s+RETRYING\s+attempt 2 in [\d.]+s\s+last error ConnectionError: scoring "
        r"service busy \(item \d+",
        retrying,
    )

    final = terminal.finished_screen()
    assert re.search(r"^tests\.cli\.flows:batch\s+SUCCEEDED\s+elapsed \d", final, re.M)
    assert "map score-items  SUCCEEDED  done 200 · running 0 · failed 0 · total 200" in final
    assert "parallel notify  SUCCEEDED  done 2 · running 0 · failed 0 · total 2" in final
    assert re.search(r"branch parallel-branch-1\s+SUCCEEDED", final)
    assert "SUCCEEDED after" in final and "EXIT:0" in final
    # Redrawn in place, not scrolled: the header appears once.
    assert final.count("tests.cli.flows:batch ") == 1


def test_in_virtual_time_the_view_shows_the_virtual_time_reached(terminal: Terminal) -> None:
    terminal.run(BATCH, "--clock", "virtual", "--input", json.dumps({"wait_seconds": 3600}))

    final = terminal.finished_screen()
    assert re.search(r"SUCCEEDED\s+elapsed [\d.]+s\s+virtual time \+1h00m0\ds", final)
    assert "done 200 · running 0 · failed 0 · total 200" in final and "EXIT:0" in final


def test_without_a_terminal_each_event_is_one_line_in_history_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "runs.db")
    argv = ["run", BATCH, "--clock", "virtual", "--store", store, "--name", "plain"]
    assert main([*argv, "--input", json.dumps({"items": 60})]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # no terminal control sequences in a pipe

    line = re.compile(r"^ *\+\S+  ( *)(\w+)(?: +(\S+))?", re.M)
    printed = [(match[2], match[3]) for match in line.finditer(out)]
    arn = out.splitlines()[0].removeprefix("execution ")
    assert main(["history", arn, "--store", store, "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    parents = {e["Id"]: e.get("Name") for e in history if e["EventType"] == "ContextStarted"}
    expected = [
        (
            e["EventType"],
            e.get("Name")
            if e["EventType"].startswith(("Context", "Execution"))
            or e.get("ParentId") not in parents
            else f"{parents[e['ParentId']]}/{e.get('Name')}",
        )
        for e in history
        if e["EventType"] != "InvocationCompleted"
    ]
    assert printed == expected
    assert re.search(r"ContextSucceeded\s+score-items\s+done 60 · failed 0 · total 60", out)
    assert re.search(
        r"StepFailed\s+map-item-3/score\s+attempt 1: ConnectionError: scoring service busy "
        r"\(item 3\); retry in 1",
        out,
    )


def test_a_wait_for_callback_shows_the_users_name_not_the_recorded_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "tests.cli.flows:manager_approval", "--clock", "virtual"]) == 1
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert re.search(r"CallbackStarted\s+manager  callback id", out)
    assert re.search(r"StepSucceeded\s+manager  attempt 1", out)
    assert "callback 'manager' has no timeout" in out
    assert "create callback id" not in out and "submitter" not in out


def test_a_pause_from_another_shell_shows_in_the_header(
    terminal: Terminal, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal.run("tests.local.workflows:approval", "--input", '{"order_id": "o-4"}', "--serve", "0")
    screen = terminal.screen_when(r"serving the local backend on http://\S+")
    endpoint = re.findall(r"serving the local backend on (http://[\d.:]+)", screen)[-1]
    assert main(["executions", "--endpoint-url", endpoint]) == 0
    arn = capsys.readouterr().out.split()[-1]

    assert main(["pause", arn, "--endpoint-url", endpoint]) == 0
    terminal.screen_when(r"(?m)^tests\.local\.workflows:approval\s+PAUSED\s")
    assert main(["resume", arn, "--endpoint-url", endpoint]) == 0
    terminal.screen_when(r"(?m)^tests\.local\.workflows:approval\s+RUNNING\s")
