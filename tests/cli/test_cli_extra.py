"""`aiodurable run` and `serve` need the `cli` extra (rich); without it they say, in one
line, what to install (the Lambda package leaves rich out)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aiodurable.cli import main
from aiodurable.local import SqliteStore


@pytest.mark.parametrize("command", [["run", "examples.fan_out:handler"], ["serve"]])
def test_without_rich_the_command_says_what_to_install(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # as if not installed

    assert main(command) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "pip install 'aiodurable[cli]'" in err
    assert f"aiodurable {command[0]}" in err


def test_commands_that_do_not_draw_need_no_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "local.db"
    SqliteStore(store).close()  # an empty store (reading commands never create one)
    monkeypatch.setitem(sys.modules, "rich", None)
    # `executions` reads a store and prints plain lines: no rich involved.
    assert main(["executions", "--store", str(store)]) == 0
    captured = capsys.readouterr()
    assert captured.out.lower() == "no executions\n"
    assert "aiodurable[cli]" not in captured.err
