"""`make lambda-zip`: the package runs the approval example from the unpacked zip, in fresh
interpreters that see nothing but the zip, against the local backend's HTTP server.

Built for this machine's Python (compiled extensions must match the interpreter that
loads them), and for each Lambda Python (3.12, 3.13, 3.14) that is on ``PATH`` as
``python3.X``: those builds use Lambda's platform and that interpreter's bytecode.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from aiodurable.lambda_package import NOT_ON_LAMBDA, RUNTIME_SERVICES
from aiodurable.local import LocalBackend
from aiodurable.local.http import LocalHttpServer
from aiodurable.wire import OperationStatus

ROOT = Path(__file__).resolve().parent.parent
THIS_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
#: The target of docs/deploying.md: what `make lambda-zip` builds stays under this.
MAX_ZIPPED = 6_000_000

#: What Lambda's bootstrap does with the unpacked zip: /var/task first on sys.path, the
#: handler imported and called with the event and a context object.
_BOOTSTRAP = """
import json, sys
sys.path.insert(0, sys.argv[1])
class LambdaContext:
    aws_request_id = "zip-0001"
    function_name = "approval"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:approval"
    memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self):
        return 60_000
from examples.human_approval import handler
output = handler(json.loads(sys.stdin.read()), LambdaContext())
import botocore, aiodurable
assert botocore.__file__.startswith(sys.argv[1]), botocore.__file__
assert aiodurable.__file__.startswith(sys.argv[1]), aiodurable.__file__
print(json.dumps(output))
"""


class _ZipProcess:
    """A durable target of the local backend: each invocation is a fresh interpreter
    that imports the handler from the unpacked zip and nothing else (``-I -S``)."""

    def __init__(self, python: str, task: Path, endpoint: str) -> None:
        self.python = python
        self.task = task
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_ENDPOINT_URL_LAMBDA": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "AKIDZIPTEST",
            "AWS_SECRET_ACCESS_KEY": "zip-test-secret",
            "AWS_LAMBDA_FUNCTION_NAME": "approval",
        }
        self.invocations = 0

    async def run(
        self, event: dict[str, Any], lambda_context: Any = None, *, client: Any = None
    ) -> Any:
        process = await asyncio.create_subprocess_exec(
            self.python,
            "-I",
            "-S",
            "-c",
            _BOOTSTRAP,
            str(self.task),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        out, err = await process.communicate(json.dumps(event).encode())
        self.invocations += 1
        assert process.returncode == 0, err.decode(errors="replace")[-3000:]
        return json.loads(out.decode().strip().splitlines()[-1])


def _interpreter(version: str) -> str | None:
    if version == THIS_PYTHON:
        return sys.executable
    found = shutil.which(f"python{version}")
    if found is None:
        return None
    # A pyenv shim exists for every installed version but runs only the selected ones.
    probe = subprocess.run([found, "-c", "pass"], capture_output=True, check=False)
    return found if probe.returncode == 0 else None


def _build(tmp_path: Path, version: str) -> tuple[Path, str]:
    archive = tmp_path / "lambda.zip"
    native = version == THIS_PYTHON
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            ".venv/.installed-demo",
            "lambda-zip",
            f"BIN={Path(sys.executable).parent}",
            f"LAMBDA_ZIP={archive}",
            f"LAMBDA_PYTHON={version}",
            # This machine's platform for this Python; Lambda's for the others.
            *(["LAMBDA_PLATFORM="] if native else []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return archive, done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted({THIS_PYTHON, "3.12", "3.13", "3.14"}))
async def test_the_zip_runs_the_approval_example_from_a_clean_interpreter(
    tmp_path: Path, version: str
) -> None:
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no python{version} on PATH to run a Lambda {version} package with")
    archive, report = await asyncio.to_thread(_build, tmp_path, version)
    assert archive.stat().st_size <= MAX_ZIPPED, report
    with zipfile.ZipFile(archive) as package:
        names = package.namelist()
        package.extractall(tmp_path / "task")
    # Only the botocore data the runtime reads, bytecode for this Python, no local backend.
    services = {
        n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 3
    }
    assert services == set(RUNTIME_SERVICES)
    tag = f"cpython-{version.replace('.', '')}"
    assert f"aiodurable/__pycache__/handler.{tag}.pyc" in names
    assert not [n for n in names if n.startswith(NOT_ON_LAMBDA)]
    assert "examples/human_approval.py" in names

    async with LocalBackend() as backend, LocalHttpServer(backend, port=0) as server:
        target = _ZipProcess(python, tmp_path / "task", server.endpoint_url)
        backend.register("approval", target)
        callbacks: list[str] = []
        backend.on_callback_started(
            lambda arn, op: callbacks.append(op.callback_details.callback_id)
        )
        claim = {"claim_id": "c-7", "employee": "sam", "amount": 1200}
        info = backend.start_execution("approval", json.dumps(claim), name="zip-c-7")
        # First invocation: notifies the approver and suspends on the callback.
        await asyncio.wait_for(backend.wait_until(lambda: bool(callbacks)), 60)
        await asyncio.wait_for(backend.wait_until(lambda: not backend.is_invoking(info.arn)), 60)
        backend.send_callback_success(
            callbacks[0], json.dumps({"approved": True, "reviewer": "ana"})
        )
        final = await asyncio.wait_for(backend.wait_for_completion(info.arn), 60)

    assert final.status.value == "SUCCEEDED", final
    assert json.loads(final.result or "null") == {
        "claim_id": "c-7",
        "status": "approved",
        "reviewer": "ana",
    }
    assert target.invocations == 2
    assert all(op.status is not OperationStatus.FAILED for op in backend.operations(info.arn))
