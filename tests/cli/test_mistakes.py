"""Mistakes a user makes on the command line end with one line and a non-zero exit."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiodurable.cli import main

ROOT = Path(__file__).resolve().parents[2]
ORDER = "tests.local.workflows:order"


def one_line_error(*args: str, timeout: float = 60) -> str:
    """Run ``aiodurable ARGS`` in its own process; it must fail with one line on stderr."""
    ran = subprocess.run(
        [sys.executable, "-m", "aiodurable.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert ran.returncode != 0, ran.stdout
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aiodurable: "), ran.stderr
    return lines[0]


def test_executions_of_a_store_keeps_to_the_function_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "runs.db")
    order = [
        "run",
        ORDER,
        "--clock",
        "virtual",
        "--store",
        store,
        "--input",
        '{"order_id": "o", "items": ["a"]}',
    ]
    assert main([*order, "--name", "mine"]) == 0
    assert main([*order, "--name", "theirs", "--function-name", "other"]) == 0
    capsys.readouterr()

    assert main(["executions", "--store", store, "--function", "order"]) == 0
    listed = capsys.readouterr().out
    assert "function:order:" in listed and "function:other:" not in listed
    assert main(["executions", "--store", store, "--function", "nope"]) == 0
    assert capsys.readouterr().out == "no executions of nope\n"
    assert main(["executions", "--store", store]) == 0
    assert capsys.readouterr().out.count("SUCCEEDED") == 2


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "typo.db"
    assert "no store at" in one_line_error("executions", "--store", str(typo))
    assert "no store at" in one_line_error("history", "arn:x", "--store", str(typo))
    assert list(tmp_path.iterdir()) == []


def test_reading_a_file_that_is_not_a_store_is_refused_and_left_untouched(
    tmp_path: Path,
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 10)
    assert "is not an aiodurable store" in one_line_error("executions", "--store", str(text))
    assert text.read_text() == "not a database\n" * 10

    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    before = other.read_bytes()
    assert "no executions table" in one_line_error("executions", "--store", str(other))
    assert other.read_bytes() == before


def test_history_shows_a_wait_for_callbacks_name_as_the_user_gave_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "runs.db")
    flow = "tests.cli.flows:manager_approval"
    assert main(["run", flow, "--clock", "virtual", "--store", store, "--name", "m"]) == 1
    capsys.readouterr()
    assert main(["executions", "--store", store]) == 0
    arn = capsys.readouterr().out.split()[-1]
    assert main(["history", arn, "--store", store]) == 0
    out = capsys.readouterr().out
    assert "CallbackStarted" in out and "manager" in out
    assert "create callback id" not in out and "submitter" not in out


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_a_port_in_use_is_one_line(busy_port: int) -> None:
    served = one_line_error("serve", ORDER, "--port", str(busy_port))
    assert f"cannot listen on 127.0.0.1:{busy_port}: the port is in use" in served
    assert "--port PORT" in served
    run = one_line_error("run", "tests.cli.flows:unanswered", "--serve", str(busy_port))
    assert "the port is in use" in run and "--serve PORT" in run


@pytest.mark.parametrize("argv", [["serve", "--port", "70000"], ["run", ORDER, "--serve", "70000"]])
def test_a_port_out_of_range_is_one_line(argv: list[str]) -> None:
    assert "70000 is not a TCP port" in one_line_error(*argv)


def test_running_an_existing_name_with_another_input_is_one_line(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.db")
    argv = ["run", ORDER, "--clock", "virtual", "--store", store, "--name", "n1", "--input"]
    assert main([*argv, '{"order_id": "a", "items": ["a"]}']) == 0
    line = one_line_error(*argv, '{"order_id": "b", "items": ["a"]}')
    assert "already exists with a different input" in line and "--name" in line


def test_a_run_store_that_is_not_a_store_is_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 10)
    assert "is not an aiodurable store" in one_line_error(
        "run", ORDER, "--clock", "virtual", "--store", str(text)
    )


def test_a_callback_result_that_is_not_json_is_refused_before_sending() -> None:
    # No server listens on this endpoint: a refusal that came after sending would say so.
    line = one_line_error(
        "callback", "succeed", "cb-1", "ana", "--endpoint-url", "http://127.0.0.1:9"
    )
    assert "'ana' is not JSON" in line and "nothing was sent" in line
    assert "aiodurable callback succeed cb-1 '\"ana\"'" in line


@pytest.mark.parametrize(
    ("attribute", "what"),
    [("SHIP_RETRY", "SHIP_RETRY is a class"), ("ship_retry", "is a SHIP_RETRY value")],
)
def test_a_class_or_an_instance_is_not_called_a_plain_function(
    attribute: str, what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", f"tests.cli.flows:{attribute}"]) == 2
    error = capsys.readouterr().err
    assert what in error and "plain function" not in error
    assert f"async def {attribute}" not in error
    assert "durable handlers in tests.cli.flows: batch, blocking, manager_approval" in error


def test_every_option_and_argument_has_help_text() -> None:
    from aiodurable.cli import _parser

    parser = _parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, sub in commands.choices.items()
        for action in sub._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert missing == []
