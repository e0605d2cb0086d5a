"""The user's side of the wire: ``aiodurable serve`` as a process, boto3 >= 1.44 as its client.

boto3 1.44 (the first with ``pause_durable_execution``, ``resume_durable_execution`` and
``delete_durable_execution``) needs a botocore newer than aiobotocore allows into our own
virtualenv, so the Makefile makes a second one (``.venv-boto3``) and
:class:`Boto3User` runs :mod:`tests.user_side.boto3_client` with its python, as a user's
script would run. Both processes are real; only their pipes are the test's.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
BOTO3_PYTHON = ROOT / ".venv-boto3" / "bin" / "python"
CLIENT = Path(__file__).with_name("boto3_client.py")
T = TypeVar("T")


class ClientFailure(Exception):
    """The service answered an error: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.code, self.message, self.status = code, message, status


def _readline(process: subprocess.Popen[str], timeout: float, what: str) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"{what} said nothing for {timeout} s")
    line = process.stdout.readline()
    if not line:
        raise AssertionError(f"{what} exited (status {process.wait()})")
    return line


class Boto3User:
    """A long-lived boto3 client process talking to ``endpoint_url``."""

    def __init__(self, endpoint_url: str) -> None:
        if not BOTO3_PYTHON.exists():
            raise AssertionError(
                f"{BOTO3_PYTHON} is missing: run `make .venv-boto3/.installed` (or `make "
                "unit`), which installs boto3 >= 1.44 there"
            )
        self.process = subprocess.Popen(
            [str(BOTO3_PYTHON), str(CLIENT), endpoint_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))},
        )

    def _ask(self, request: dict[str, Any]) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = json.loads(_readline(self.process, 60, "the boto3 client"))
        if "error" in answer:
            error = answer["error"]
            raise ClientFailure(error["Code"], error["Message"], error["Status"])
        return answer["response"]

    def call(self, op: str, **params: Any) -> dict[str, Any]:
        """``client.<op>(**params)``; a ClientError becomes :class:`ClientFailure`."""
        result: dict[str, Any] = self._ask({"op": op, "params": params})
        return result

    def model(self) -> dict[str, Any]:
        """botocore's version and the durable-execution operations its model has."""
        result: dict[str, Any] = self._ask({"op": "__model__"})
        return result

    def probe(self) -> dict[str, str | None]:
        """Every durable-execution operation called once: the error code each got."""
        result: dict[str, str | None] = self._ask({"op": "__probe__"})
        return result

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)

    def __enter__(self) -> Boto3User:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Served:
    """``aiodurable serve TARGETS --port 0 …`` in a process of its own."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiodurable.cli", "serve", *args, "--port", "0", "--no-ui"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})},
        )
        line = _readline(self.process, 60, "aiodurable serve")
        found = re.search(r"listening on (http://\S+)", line)
        assert found, line
        self.endpoint_url = found.group(1)

    def kill(self) -> None:
        """SIGKILL: nothing gets to run on the way out."""
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def until(check: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    """Poll ``check`` (another process changes what it reads) until it returns a value."""
    deadline = time.monotonic() + timeout
    while (value := check()) is None or value is False:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value
