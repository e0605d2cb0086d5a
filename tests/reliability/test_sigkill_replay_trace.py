"""The replay trace survives ``kill -9`` of ``aiodurable serve --store``.

A map over a set's items is recorded by one server process; the process is killed with
SIGKILL while the execution waits for a callback, and a new process over the same file,
whose hash seed orders the set differently, resumes it. The stored results belong to the
items in the first order: the execution must fail with ``NonDeterministicError`` rather
than succeed with items paired with other items' results.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiodurable.cli.remote_commands import lambda_client

from .set_ordered_map import WORDS

ROOT = Path(__file__).resolve().parents[2]
TARGET = "pair=tests.reliability.set_ordered_map:pair_up"
SERVE = (sys.executable, "-m", "aiodurable.cli", "serve")


def set_order(seed: int) -> list[str]:
    """The order ``list(set(WORDS))`` has in a process with this hash seed."""
    out = subprocess.run(
        [sys.executable, "-c", f"print(','.join(list(set({WORDS!r}))))"],
        env={**os.environ, "PYTHONHASHSEED": str(seed)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().split(",")


@contextmanager
def serve(store: Path, seed: int) -> Iterator[tuple[subprocess.Popen[str], Any]]:
    process = subprocess.Popen(
        [*SERVE, TARGET, "--store", str(store), "--port", "0", "--clock", "virtual", "--no-ui"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "PYTHONHASHSEED": str(seed),
        },
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"listening on (http://\S+)", banner)
        assert found, banner
        yield process, lambda_client(found.group(1))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def poll(condition: Any, what: str) -> Any:
    """Ask a separate server process until ``condition()`` answers (it runs on its own)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = condition()
        if answer:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def callback_id(client: Any, arn: str) -> str | None:
    events = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    return next(
        (
            e["CallbackStartedDetails"]["CallbackId"]
            for e in events
            if e["EventType"] == "CallbackStarted"
        ),
        None,
    )


def test_a_set_ordered_map_fails_as_non_deterministic_after_sigkill(tmp_path: Path) -> None:
    first_seed = 0
    other_seed = next(s for s in range(1, 100) if set_order(s) != set_order(first_seed))
    store = tmp_path / "local.db"

    with serve(store, first_seed) as (process, client):
        started = client.invoke(
            FunctionName="pair", Payload=b"{}", InvocationType="Event", DurableExecutionName="p1"
        )
        arn = started["DurableExecutionArn"]
        poll(lambda: callback_id(client, arn), "the callback to start")
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL

    with serve(store, other_seed) as (process, client):
        client.send_durable_execution_callback_success(
            CallbackId=callback_id(client, arn), Result=b'"go"'
        )
        execution = poll(
            lambda: (
                (e := client.get_durable_execution(DurableExecutionArn=arn))["Status"] != "RUNNING"
                and e
            ),
            "the execution to end",
        )

    assert execution["Status"] == "FAILED", execution.get("Result")
    assert execution["Error"]["ErrorType"].endswith(".NonDeterministicError"), execution["Error"]
    assert "shout-all" in execution["Error"]["ErrorMessage"]
