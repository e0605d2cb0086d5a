"""``aiodurable serve`` serves the UI by default and prints where; ``--no-ui`` turns it off."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def serve(*flags: str) -> tuple[list[str], int, str]:
    """Start the command, read its banner, GET ``/ui/``; the lines, status and body."""
    command = ["serve", "tests.ui.workflows:approval", "--port", "0", "--clock", "virtual"]
    process = subprocess.Popen(
        [sys.executable, "-m", "aiodurable.cli", *command, *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        found = re.search(r"listening on (http://\S+)", lines[0])
        assert found, lines
        endpoint = found.group(1)
        if "--no-ui" not in flags:
            lines.append(process.stdout.readline())
        try:
            with urllib.request.urlopen(endpoint + "/ui/", timeout=10) as response:
                return lines, response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return lines, error.code, error.read().decode()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_serve_shows_the_ui_and_says_where() -> None:
    lines, status, body = serve()
    endpoint = re.search(r"listening on (\S+)", lines[0])
    assert endpoint and lines[1] == f"web UI: {endpoint.group(1)}/ui/\n"
    assert status == 200
    assert '<meta name="aiodurable-token"' in body and "Executions" in body


def test_no_ui_turns_it_off() -> None:
    lines, status, body = serve("--no-ui")
    assert len(lines) == 1
    assert status == 404 and "aiodurable-token" not in body
