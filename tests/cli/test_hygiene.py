"""``aiodurable run`` in a shell: pipes, Ctrl-C, runs that cannot finish, wrong targets,
and virtual time that waits for a callback someone can still answer."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import IO

import pytest

from aiodurable.cli import main
from aiodurable.cli.remote_commands import lambda_client
from aiodurable.local import ExecutionStalledError, LocalBackend, VirtualClock
from aiodurable.wire import OperationStatus, OperationType
from tests.cli import flows

ROOT = Path(__file__).resolve().parents[2]


def _spawn(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aiodurable.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env},
    )


def _read_until(stream: IO[str] | None, pattern: str) -> re.Match[str]:
    assert stream is not None
    seen = []
    for line in stream:
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matched {pattern!r} in:\n{''.join(seen)}")


def test_a_reader_that_goes_away_ends_the_run_quietly() -> None:
    run = _spawn("run", "tests.cli.flows:unanswered", "--serve", "0", "--clock", "virtual")
    try:
        hint = _read_until(run.stdout, r"callback succeed (\S+) .* --endpoint-url (\S+)")
        assert run.stdout is not None
        run.stdout.close()  # like `| head`: the reader is gone, the pipe is broken
        # The run's next line fails: the one after the hint, or the answer's. If it has
        # already stopped, the answer finds no server (status 2): both are fine here.
        assert main(["callback", "succeed", hint[1], '"ana"', "--endpoint-url", hint[2]]) in (0, 2)
        assert run.wait(timeout=20) == 141
        errors = run.stderr.read() if run.stderr else ""
        assert "Traceback" not in errors and "Exception ignored" not in errors, errors
    finally:
        run.kill()
        run.wait()


def test_ctrl_c_stops_inside_a_blocking_sync_step_and_says_how_to_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "runs.db")
    argv = ["run", "tests.cli.flows:blocking", "--input", '{"name": "q3"}', "--store", store]
    run = _spawn(*argv, **{flows.BLOCK: "1"})
    try:
        _read_until(run.stdout, r"StepStarted\s+report")  # its thread sleeps for an hour
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=10) == 130
    finally:
        run.kill()
        run.wait()
    errors = run.stderr.read() if run.stderr else ""
    assert "Traceback" not in errors
    resume = re.search(r"Resume it with: (aiodurable run .*)$", errors, re.M)
    assert resume is not None, errors

    command = shlex.split(resume[1])
    assert command[:2] == ["aiodurable", "run"] and "--name" in command
    assert main(command[1:]) == 0
    assert '"report for q3"' in capsys.readouterr().out


def test_a_plain_async_function_is_not_a_durable_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "tests.cli.flows:not_durable"]) == 2
    error = capsys.readouterr().err
    assert "tests.cli.flows:not_durable is not a durable handler" in error
    assert "plain async function" in error and "@durable_execution" in error


@pytest.mark.parametrize("clock", ["virtual", "real"])
def test_a_callback_nobody_can_answer_ends_the_run_with_the_command_that_would(
    clock: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "runs.db")
    argv = ["run", "tests.cli.flows:unanswered", "--clock", clock, "--store", store]
    assert main([*argv, "--name", "sign"]) == 1
    captured = capsys.readouterr()
    callback_id = re.search(r"CallbackStarted\s+sign-off\s+callback id (\S+)", captured.out)
    assert callback_id is not None
    [line] = captured.err.splitlines()
    assert line.startswith("aiodurable: the execution cannot finish: callback 'sign-off' has no")
    assert "Traceback" not in captured.err
    rerun = re.search(r"Run `(.*?)`", line)
    assert rerun is not None
    words = shlex.split(rerun[1])
    assert words[:3] == ["aiodurable", "run", "tests.cli.flows:unanswered"]
    assert words[-1] == "--serve" and {"--name", "sign", "--store", store} <= set(words)
    assert line.endswith(f"aiodurable callback succeed {callback_id[1]} '<json>'")


async def test_virtual_time_stops_short_of_a_callback_deadline_while_it_can_be_answered() -> None:
    clock = VirtualClock()
    async with LocalBackend(clock=clock, functions={"review": flows.review}) as backend:
        started = clock.now()
        with clock.answerable():
            info = backend.start_execution("review", "{}")
            with pytest.raises(ExecutionStalledError):
                await backend.wait_for_completion(info.arn)
            # The six-hour wait passed; the one-day callback timeout did not.
            assert clock.now() - started == timedelta(hours=6)
            [callback] = [
                op for op in backend.operations(info.arn) if op.type is OperationType.CALLBACK
            ]
            assert callback.status is OperationStatus.STARTED
            assert callback.callback_details and callback.callback_details.callback_id
            backend.send_callback_success(callback.callback_details.callback_id, '"ana"')
            info = await backend.wait_for_completion(info.arn)
        assert info.result == '"reviewed: ana"'

        # With nobody to answer, the same timeout passes at once.
        info = await backend.wait_for_completion(backend.start_execution("review", "{}").arn)
        assert info.status.value == "FAILED"


async def test_an_open_http_server_holds_virtual_time_short_of_a_callback_deadline() -> None:
    from aiodurable.local.http import LocalHttpServer

    clock = VirtualClock()
    async with LocalBackend(clock=clock, functions={"review": flows.review}) as backend:
        started = clock.now()
        async with LocalHttpServer(backend, port=0):
            info = backend.start_execution("review", "{}")
            with pytest.raises(ExecutionStalledError):
                await backend.wait_for_completion(info.arn)
            assert clock.now() - started == timedelta(hours=6)
        # The server is closed: nobody can answer any more, the timeout passes at once.
        info = await backend.wait_for_completion(info.arn)
        assert info.status.value == "FAILED"


def test_run_with_serve_holds_virtual_time_until_someone_answers() -> None:
    run = _spawn("run", "tests.cli.flows:review", "--serve", "0", "--clock", "virtual")
    try:
        held = _read_until(
            run.stdout,
            r"virtual time stands still at \+6h00m00s: callback 'review' can still be answered.*"
            r"callback succeed (\S+) '<json>' --endpoint-url (\S+)",
        )
        assert main(["callback", "succeed", held[1], '"bo"', "--endpoint-url", held[2]]) == 0
        _read_until(run.stdout, r"SUCCEEDED after")
        assert run.wait(timeout=20) == 0
        assert json.loads(run.stdout.read() if run.stdout else "") == "reviewed: bo"
    finally:
        run.kill()
        run.wait()


def test_serve_holds_virtual_time_at_a_callback_deadline_too() -> None:
    server = _spawn("serve", "tests.cli.flows:review", "--port", "0", "--clock", "virtual")
    try:
        endpoint = _read_until(server.stdout, r"listening on (http://\S+)")[1]
        client = lambda_client(endpoint)
        arn = client.invoke(FunctionName="review", InvocationType="Event", Payload=b"{}")[
            "DurableExecutionArn"
        ]
        callback_id = None
        while callback_id is None:  # polled over HTTP, as any client of the API would
            events = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
            started = [e for e in events if e["EventType"] == "CallbackStarted"]
            callback_id = started[0]["CallbackStartedDetails"]["CallbackId"] if started else None
        # The one-day timeout has not passed: the answer is still accepted.
        client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'"cy"')
        while (done := client.get_durable_execution(DurableExecutionArn=arn))[
            "Status"
        ] == "RUNNING":
            pass
        assert done["Status"] == "SUCCEEDED" and json.loads(done["Result"]) == "reviewed: cy"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
