"""The ``aiodurable`` command: run with a live view, serve, inspect, complete callbacks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import botocore.session  # type: ignore[import-untyped]
import pytest

from aiodurable.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aiodurable.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _read_until(stream: IO[str] | None, pattern: str) -> re.Match[str]:
    assert stream is not None
    seen = []
    for line in stream:
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matched {pattern!r} in:\n{''.join(seen)}")


@pytest.fixture
def served() -> Iterator[str]:
    server = _spawn("serve", "tests.local.workflows:order", "--port", "0", "--clock", "virtual")
    try:
        yield _read_until(server.stdout, r"listening on (http://\S+)")[1]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0


def _client(endpoint: str) -> Any:
    return botocore.session.get_session().create_client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_run_shows_each_operation_and_the_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "local.db"
    code = main(
        [
            "run",
            "tests.local.workflows:order",
            "--input",
            '{"order_id": "o-1", "items": ["a"]}',
            "--clock",
            "virtual",
            "--store",
            str(store),
            "--name",
            "order-1",
        ]
    )
    out = capsys.readouterr().out

    assert code == 0
    assert re.search(r"StepFailed\s+price\s+attempt 1: ConnectionError: .*; retry in 2", out)
    assert re.search(r"\+2\.000s\s+WaitStarted\s+warehouse\s+6h00m00s", out)
    assert re.search(r"\+6h00m02s\s+WaitSucceeded\s+warehouse", out)
    assert "SUCCEEDED after 3 invocation(s)" in out
    assert json.loads(out[out.index("{") :]) == {"order_id": "o-1", "total": 10}

    assert main(["executions", "--store", str(store)]) == 0
    listing = capsys.readouterr().out
    arn = re.search(r"SUCCEEDED\s+(arn:\S+)", listing)
    assert arn is not None and "durable-execution/order-1/" in arn[1]

    assert main(["history", arn[1], "--store", str(store)]) == 0
    history = capsys.readouterr().out.splitlines()
    assert "ExecutionStarted" in history[0] and "ExecutionSucceeded" in history[-1]
    assert any("StepFailed" in line and "attempt 1" in line for line in history)


def test_run_reports_a_failed_execution(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", "tests.local.workflows:order", "--input", '{"items": []}', "--clock", "virtual"]
    )
    assert code == 1
    assert "FAILED" in capsys.readouterr().out


def test_a_bad_target_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "tests.local.workflows:missing"]) == 2
    assert "has no attribute 'missing'" in capsys.readouterr().err


def test_serve_answers_botocore(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = _client(served)
    response = client.invoke(
        FunctionName="order",
        Payload=b'{"order_id": "o-5", "items": ["a", "b"]}',
        DurableExecutionName="order-5",
    )
    arn = response["DurableExecutionArn"]
    assert json.loads(response["Payload"].read()) == {"order_id": "o-5", "total": 20}

    execution = client.get_durable_execution(DurableExecutionArn=arn)
    assert execution["Status"] == "SUCCEEDED"
    listed = client.list_durable_executions_by_function(
        FunctionName="order", Statuses=["SUCCEEDED"]
    )
    assert [e["DurableExecutionName"] for e in listed["DurableExecutions"]] == ["order-5"]
    page = client.get_durable_execution_history(DurableExecutionArn=arn, MaxItems=3)
    assert [e["EventId"] for e in page["Events"]] == [1, 2, 3] and page["NextMarker"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_durable_execution(DurableExecutionArn=arn.replace("order-5", "order-6"))

    assert main(["executions", "--endpoint-url", served]) == 0
    assert arn in capsys.readouterr().out
    assert main(["history", arn, "--endpoint-url", served, "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert events[-1]["EventType"] == "ExecutionSucceeded"


def test_a_callback_is_completed_from_another_shell(capsys: pytest.CaptureFixture[str]) -> None:
    run = _spawn(
        "run",
        "tests.local.workflows:approval",
        "--input",
        '{"order_id": "o-9"}',
        "--serve",
        "0",
        "--clock",
        "real",
    )
    try:
        hint = _read_until(run.stdout, r"callback succeed (\S+) .* --endpoint-url (\S+)")
        callback_id, endpoint = hint[1], hint[2]
        assert main(["callback", "heartbeat", callback_id, "--endpoint-url", endpoint]) == 0
        assert (
            main(["callback", "succeed", callback_id, '"approved"', "--endpoint-url", endpoint])
            == 0
        )
        _read_until(run.stdout, r"SUCCEEDED after")
        assert "o-9" in (run.stdout.read() if run.stdout else "")
    finally:
        run.kill()
        run.wait()


def test_serve_answers_an_unknown_function_with_the_ones_it_has(served: str) -> None:
    client = _client(served)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.invoke(FunctionName="ordr", Payload=b"{}")
    message = caught.value.response["Error"]["Message"]
    assert "Function not found" in message and "durable functions: order" in message
    assert "register" not in message  # no Python call suggested to a CLI user
