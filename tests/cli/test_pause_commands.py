"""``aiodurable pause / resume / delete`` against a served backend, and what the other
commands show of a paused execution (``executions``, ``history``, the live view of
``run --serve``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from aiodurable.cli import main
from aiodurable.cli.lambda_model import lambda_session
from tests.test_cli import _client, _read_until, _spawn
from tests.user_side import Served, until


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[str]:
    served = Served(
        "tests.user_side.workflows:checkout",
        "--store",
        str(tmp_path / "local.db"),
        env={"HOLD_DIR": str(tmp_path)},
    )
    yield served.endpoint_url
    served.stop()


def _status(client: Any, arn: str) -> str:
    return str(client.get_durable_execution(DurableExecutionArn=arn)["Status"])


def _callback_started(client: Any, arn: str) -> bool:
    events = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    invoked = sum(e["EventType"] == "InvocationCompleted" for e in events)
    return invoked == 1 and any(e["EventType"] == "CallbackStarted" for e in events)


def test_pause_resume_and_delete_from_the_command_line(
    endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = _client(endpoint)
    started = client.invoke(
        FunctionName="checkout", InvocationType="Event", Payload=b'{"order_id": "o-7"}'
    )
    arn = started["DurableExecutionArn"]
    until(lambda: _callback_started(client, arn), "the callback to start")

    assert main(["pause", arn, "--reason", "deploying v2", "--endpoint-url", endpoint]) == 0
    assert capsys.readouterr().out.split() == ["PAUSED", arn]
    assert main(["executions", "--endpoint-url", endpoint]) == 0
    assert re.search(rf"PAUSED\s+{re.escape(arn)}", capsys.readouterr().out)
    assert main(["history", arn, "--endpoint-url", endpoint]) == 0
    assert re.search(r"ExecutionPaused\s+.*deploying v2", capsys.readouterr().out)

    assert main(["pause", arn, "--endpoint-url", endpoint]) == 2
    assert "ResourceConflictException" in capsys.readouterr().err
    assert main(["delete", arn, "--endpoint-url", endpoint]) == 2
    assert "stop it first" in capsys.readouterr().err

    assert main(["resume", arn, "--endpoint-url", endpoint]) == 0
    assert capsys.readouterr().out.strip() == f"resumed {arn}"
    assert _status(client, arn) == "RUNNING"
    client.stop_durable_execution(DurableExecutionArn=arn)
    assert main(["delete", arn, "--endpoint-url", endpoint]) == 0
    assert capsys.readouterr().out.strip() == f"deleted {arn}"
    assert main(["executions", "--endpoint-url", endpoint]) == 0
    assert capsys.readouterr().out.strip() == "no executions"


def test_the_cli_client_has_the_new_operations_whatever_botocore_is_installed() -> None:
    # aiobotocore pins a botocore that predates them; the CLI's shipped model adds them.
    model = lambda_session().get_service_model("lambda")
    assert {"PauseDurableExecution", "ResumeDurableExecution", "DeleteDurableExecution"} <= set(
        model.operation_names
    )


def _lines_until(stream: IO[str] | None, pattern: str) -> list[str]:
    assert stream is not None
    seen = []
    for line in stream:
        seen.append(line)
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"no line matched {pattern!r} in:\n{''.join(seen)}")


def test_the_live_view_shows_the_pause(tmp_path: Path) -> None:
    run = _spawn(
        "run",
        "tests.local.workflows:approval",
        "--input",
        json.dumps({"order_id": "o-8"}),
        "--serve",
        "0",
        "--clock",
        "real",
    )
    try:
        arn = _read_until(run.stdout, r"execution (\S+)")[1]
        hint = _read_until(run.stdout, r"callback succeed (\S+) .* --endpoint-url (\S+)")
        callback_id, endpoint = hint[1], hint[2]
        assert main(["pause", arn, "--reason", "audit", "--endpoint-url", endpoint]) == 0
        _lines_until(run.stdout, r"ExecutionPaused\s.*reason: audit")
        assert main(["callback", "succeed", callback_id, '"ok"', "--endpoint-url", endpoint]) == 0
        _lines_until(run.stdout, r"CallbackSucceeded")
        assert main(["resume", arn, "--endpoint-url", endpoint]) == 0
        after = _lines_until(run.stdout, r"SUCCEEDED after 2 invocation")
        assert any("ExecutionResumed" in line for line in after)
    finally:
        run.kill()
        run.wait()


def test_a_paused_run_under_virtual_time_says_how_to_resume_it() -> None:
    run = _spawn(
        "run",
        "tests.local.workflows:approval",
        "--input",
        json.dumps({"order_id": "o-9"}),
        "--serve",
        "0",
        "--clock",
        "virtual",
    )
    try:
        arn = _read_until(run.stdout, r"execution (\S+)")[1]
        hint = _read_until(run.stdout, r"callback succeed (\S+) .* --endpoint-url (\S+)")
        callback_id, endpoint = hint[1], hint[2]
        assert main(["pause", arn, "--endpoint-url", endpoint]) == 0
        # Stalled virtual time does not end a paused run: it waits for the resume.
        resume = _read_until(run.stdout, r"paused: `(aiodurable resume \S+ --endpoint-url \S+)`")
        assert resume[1] == f"aiodurable resume {arn} --endpoint-url {endpoint}"
        assert main(["callback", "succeed", callback_id, '"ok"', "--endpoint-url", endpoint]) == 0
        assert main(["resume", arn, "--endpoint-url", endpoint]) == 0
        _read_until(run.stdout, r"SUCCEEDED after 2 invocation")
    finally:
        run.kill()
        run.wait()
