"""Functions in other processes: awslambdaric over the Runtime API, and an Invoke shim.

Every test starts real processes: ``python -m awslambdaric`` for each sandbox (driven by
:class:`~aiodurable.local.processes.FunctionProcesses`) and ``invoke_shim.py`` as a Lambda
Invoke endpoint. They checkpoint back to the backend's real HTTP routes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from aiodurable import DurableContext, durable_execution
from aiodurable.local import LocalBackend, RealClock
from aiodurable.local.function_targets import InvokeEndpoint, PlainInvokeEndpoint
from aiodurable.local.http import LocalHttpServer
from aiodurable.local.processes import FunctionProcesses, ProcessFunction
from aiodurable.wire import ErrorObject

FUNCTIONS = Path(__file__).with_name("functions")
RIC = [sys.executable, "-m", "awslambdaric"]


def failures(backend: LocalBackend, arn: str) -> list[ErrorObject | None]:
    """The error of each InvocationCompleted event of ``arn`` (``None``: it returned)."""
    return [
        e.invocation_completed_details.error.payload
        if e.invocation_completed_details and e.invocation_completed_details.error
        else None
        for e in backend.history(arn)
        if e.event_type == "InvocationCompleted"
    ]


def errors_of(backend: LocalBackend, arn: str) -> list[str | None]:
    """The ErrorType of each InvocationCompleted event of ``arn``, in order."""
    return [error.error_type if error else None for error in failures(backend, arn)]


class Setup:
    def __init__(self, backend: LocalBackend, processes: FunctionProcesses, markers: Path):
        self.backend = backend
        self.processes = processes
        self.markers = markers

    def add(self, name: str, handler: str, **options: Any) -> None:
        self.processes.add(
            self.backend,
            ProcessFunction(
                name,
                [*RIC, f"process_handlers.{handler}"],
                cwd=str(FUNCTIONS),
                environment={"MARKERS": str(self.markers)},
                init_timeout=60,  # a loaded test machine may start Python slowly
                **options,
            ),
        )

    async def run(self, name: str, payload: Any = None) -> Any:
        info = self.backend.start_execution(name, json.dumps(payload))
        return await self.backend.wait_for_completion(info.arn)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    backend = LocalBackend(clock=RealClock(), invocation_retry_delay=0.05)
    async with (
        backend,
        LocalHttpServer(backend, port=0) as server,
        FunctionProcesses(server.endpoint_url) as processes,
    ):
        yield Setup(backend, processes, tmp_path)


async def test_a_crash_mid_step_is_an_exit_error_and_the_function_is_invoked_again(
    setup: Setup,
) -> None:
    setup.add("crashing", "crashing")
    info = await setup.run("crashing")
    assert info.status == "SUCCEEDED", info.error
    assert json.loads(info.result or "") == "before survived"
    assert errors_of(setup.backend, info.arn) == ["Runtime.ExitError", None]
    crash = failures(setup.backend, info.arn)[0]
    assert crash is not None
    assert crash.error_message is not None
    assert crash.error_message.endswith("Runtime exited with error: exit status 3")


async def test_a_timeout_kills_the_process_and_is_sandbox_timedout(setup: Setup) -> None:
    setup.add("slow", "slow", timeout=6.0)  # room for a first invocation on a loaded machine
    info = await setup.run("slow")
    assert info.status == "SUCCEEDED", info.error
    assert json.loads(info.result or "") == "in time"
    assert errors_of(setup.backend, info.arn) == ["Sandbox.Timedout", None]
    timed_out = failures(setup.backend, info.arn)[0]
    assert timed_out is not None
    message = timed_out.error_message
    assert message is not None
    assert message.endswith("Task timed out after 6.00 seconds")


async def test_memory_beyond_the_size_is_out_of_memory(setup: Setup) -> None:
    setup.add("hungry", "hungry", memory=256)
    info = await setup.run("hungry")
    assert info.status == "SUCCEEDED", info.error
    assert errors_of(setup.backend, info.arn) == ["Runtime.OutOfMemory", None]


async def test_chained_invokes_reach_other_processes(setup: Setup, tmp_path: Path) -> None:
    """An in-process workflow invokes a function process and both shim functions."""
    setup.add("echo", "echo")
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_LAMBDA": setup.processes.lambda_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    shim = await asyncio.create_subprocess_exec(
        sys.executable, str(FUNCTIONS / "invoke_shim.py"), env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert shim.stdout is not None
        line = (await shim.stdout.readline()).decode().split()
        url = f"http://127.0.0.1:{line[1]}"
        setup.backend.register("shim-echo", InvokeEndpoint(url, "shim-echo"))
        setup.backend.register("shim-plain", PlainInvokeEndpoint(url, "shim-plain"))

        @durable_execution
        async def caller(event: Any, ctx: DurableContext) -> dict[str, Any]:
            echo = await ctx.invoke("echo", {"n": 1}, name="echo")
            shim_echo = await ctx.invoke("shim-echo", {"n": 2}, name="shim-echo")
            plain = await ctx.invoke("shim-plain", {"n": 3}, name="plain")
            try:
                await ctx.invoke("shim-plain", "fail", name="plain-fails")
            except Exception as error:
                refused = str(error)
            return {"echo": echo, "shim": shim_echo, "plain": plain, "refused": refused}

        setup.backend.register("caller", caller)
        info = await setup.run("caller")
        assert info.status == "SUCCEEDED", info.error
        result = json.loads(info.result or "")
        assert result["shim"]["pid"] == result["plain"]["pid"] == shim.pid
        assert len({result["echo"]["pid"], shim.pid, os.getpid()}) == 3
        assert result["echo"]["echo"] == {"n": 1}
        assert result["shim"]["shim"] == {"n": 2}
        assert result["plain"]["plain"] == {"n": 3}
        assert result["refused"] == "the plain function refused"
        children = [e for e in setup.backend.executions() if e.parent_arn == info.arn]
        assert sorted(c.function_name for c in children) == ["echo", "shim-echo"]
    finally:
        shim.kill()
        await shim.wait()


async def _exited(pid: int) -> None:
    """Return once process ``pid`` (not our child) has terminated."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already gone (and reaped)
    ended = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(fd, ended.set)  # a pidfd turns readable when its process terminates
    try:
        await ended.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def test_kill_9_of_serve_kills_its_function_process_and_a_restart_resumes(
    tmp_path: Path,
) -> None:
    store = tmp_path / "local.db"
    markers = tmp_path / "markers"
    markers.mkdir()
    argv = [
        *(sys.executable, "-m", "aiodurable.cli", "serve", "--port", "0", "--no-ui"),
        *("--store", str(store), "--function-process"),
        f"blocking={' '.join(RIC)} process_handlers.blocking",
    ]
    env = {**os.environ, "MARKERS": str(markers)}

    async def serve() -> tuple[asyncio.subprocess.Process, str]:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=str(FUNCTIONS), stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        line = (await process.stdout.readline()).decode()
        return process, line.split(" listening on ")[1].split()[0]

    async def invoke(url: str, invocation_type: str) -> aiohttp.ClientResponse:
        return await http.post(
            f"{url}/2015-03-31/functions/blocking/invocations",
            data=b"{}",
            headers={
                "Content-Type": "application/json",
                "X-Amz-Invocation-Type": invocation_type,
                "X-Amz-Durable-Execution-Name": "blocked",
            },
        )

    first, url = await serve()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        async with await invoke(url, "Event") as response:
            assert response.status == 202
            arn = response.headers["X-Amz-Durable-Execution-Arn"]
        assert first.stdout is not None
        async with asyncio.timeout(60):
            while not (line := (await first.stdout.readline()).decode()).startswith("RUNNING"):
                assert line, "serve ended before its function process ran the step"
        function_pid = int(line.split()[1])
        first.send_signal(signal.SIGKILL)
        await first.wait()
        async with asyncio.timeout(10):
            await _exited(function_pid)  # the kernel killed it with its parent

        (markers / "release").touch()
        second, url = await serve()
        try:
            # The same name and input: Invoke answers with that execution's result.
            async with await invoke(url, "RequestResponse") as response:
                assert response.status == 200
                assert response.headers["X-Amz-Durable-Execution-Arn"] == arn
                result = json.loads(await response.read())
            assert result not in (function_pid, second.pid)
            quoted = quote(arn, safe="")
            async with http.get(f"{url}/2025-12-01/durable-executions/{quoted}/history") as h:
                events = (await h.json())["Events"]
            errors = [
                e["InvocationCompletedDetails"].get("Error", {}).get("Payload", {}).get("ErrorType")
                for e in events
                if e["EventType"] == "InvocationCompleted"
            ]
            assert errors == ["Runtime.ExitError", None]
        finally:
            second.terminate()
            await second.wait()


async def test_serve_invokes_a_function_at_an_invoke_endpoint(tmp_path: Path) -> None:
    """``aiodurable serve --function NAME=URL``: the shim's function, started with boto3's
    route, runs in the shim's process and checkpoints back to serve."""
    port = str(_free_port())
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    shim = await asyncio.create_subprocess_exec(
        sys.executable, str(FUNCTIONS / "invoke_shim.py"), env=env, stdout=asyncio.subprocess.PIPE
    )
    assert shim.stdout is not None
    shim_port = (await shim.stdout.readline()).decode().split()[1]
    serve = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "aiodurable.cli", "serve", "--port", port, "--no-ui"),
        *("--function", f"shim-echo=http://127.0.0.1:{shim_port}"),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert serve.stdout is not None
        assert "(functions: shim-echo)" in (await serve.stdout.readline()).decode()
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/2015-03-31/functions/shim-echo/invocations",
                json={"n": 5},
            ) as response,
        ):
            assert response.status == 200
            assert json.loads(await response.read()) == {"shim": {"n": 5}, "pid": shim.pid}
    finally:
        for process in (serve, shim):
            process.kill()
            await process.wait()


def test_serve_says_what_a_function_process_option_needs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aiodurable.cli import main

    assert main(["serve", "--function-process", "python -m awslambdaric app.handler"]) == 2
    err = capsys.readouterr().err
    assert "--function-process 'python -m awslambdaric app.handler' is not NAME=VALUE" in err


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_local_runner_invokes_a_function_process(tmp_path: Path) -> None:
    """A workflow under test (virtual time) invokes a function in an awslambdaric process."""
    from aiodurable.testing import LocalRunner

    @durable_execution
    async def checkout(event: Any, ctx: DurableContext) -> Any:
        await ctx.wait(3600, name="an-hour")  # virtual: no wall time
        return await ctx.invoke("echo", {"order": event["order"]}, name="echo")

    async with (
        LocalRunner(checkout) as runner,
        LocalHttpServer(runner.backend, port=0) as server,
        FunctionProcesses(server.endpoint_url) as processes,
    ):
        spec = ProcessFunction(
            "echo",
            [*RIC, "process_handlers.echo"],
            cwd=str(FUNCTIONS),
            environment={"MARKERS": str(tmp_path)},
        )
        processes.add(runner, spec)
        run = await runner.run({"order": "o-1"})
    assert run.status == "SUCCEEDED", run.error
    assert run.result["echo"] == {"order": "o-1"}
    assert run.result["pid"] != os.getpid()


@pytest.mark.parametrize(
    ("command", "error_type"),
    [
        ([*RIC, "process_handlers.no_such_handler"], "Runtime.HandlerNotFound"),
        (["./no-such-runtime", "app.handler"], "Runtime.InvalidEntrypoint"),
    ],
)
async def test_a_function_that_cannot_start_fails_as_lambda_says(
    command: list[str], error_type: str
) -> None:
    backend = LocalBackend(
        clock=RealClock(), invocation_retry_delay=0.05, max_invocation_attempts=2
    )
    async with (
        backend,
        LocalHttpServer(backend, port=0) as server,
        FunctionProcesses(server.endpoint_url) as processes,
    ):
        processes.add(
            backend, ProcessFunction("broken", command, cwd=str(FUNCTIONS), init_timeout=60)
        )
        info = backend.start_execution("broken", "{}")
        info = await backend.wait_for_completion(info.arn)
        assert info.status == "FAILED"
        assert errors_of(backend, info.arn) == [error_type, error_type]


async def test_output_lines_longer_than_the_buffer_are_forwarded_whole_in_pieces() -> None:
    from aiodurable.local.processes import _forward

    code = "import sys; print('x' * 200000); print('short'); sys.stdout.write('last')"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    lines: list[str] = []
    assert child.stdout is not None
    await _forward(child.stdout, "f", lambda name, line: lines.append(line))
    await child.wait()
    assert "".join(lines[:-2]) == "x" * 200000
    assert lines[-2:] == ["short", "last"]


OFFICIAL_PYTHON = Path(__file__).resolve().parents[2] / ".venv-official" / "bin" / "python"


@pytest.mark.skipif(
    not OFFICIAL_PYTHON.exists(), reason="no .venv-official: make .venv-official/.installed"
)
async def test_an_aiodurable_workflow_invokes_a_function_written_with_the_official_sdk(
    setup: Setup,
) -> None:
    """Across processes and SDKs: the official SDK's function, from its own virtualenv,
    with its own boto3, checkpoints to the same backend."""
    setup.processes.add(
        setup.backend,
        ProcessFunction(
            "official",
            [str(OFFICIAL_PYTHON), "-m", "awslambdaric", "official_handlers.handler"],
            cwd=str(FUNCTIONS),
            init_timeout=60,
        ),
    )

    @durable_execution
    async def caller(event: Any, ctx: DurableContext) -> Any:
        return await ctx.invoke("official", {"n": 21}, name="official")

    setup.backend.register("caller", caller)
    info = await setup.run("caller")
    assert info.status == "SUCCEEDED", info.error
    result = json.loads(info.result or "")
    assert result["doubled"] == 42
    assert result["sdk"] == "official"
    child = next(e for e in setup.backend.executions() if e.parent_arn == info.arn)
    types = [e.event_type for e in setup.backend.history(child.arn)]
    assert "WaitStarted" in types
    assert types.count("InvocationCompleted") == 2  # suspended on its wait, then resumed


async def test_the_web_ui_starts_and_shows_a_function_process(tmp_path: Path) -> None:
    from tests.ui.server import Served
    from tests.ui.test_pages import act

    backend = LocalBackend(clock=RealClock())
    async with (
        backend,
        LocalHttpServer(backend, port=0, ui=True) as server,
        FunctionProcesses(server.endpoint_url) as processes,
    ):
        spec = ProcessFunction(
            "echo",
            [*RIC, "process_handlers.echo"],
            cwd=str(FUNCTIONS),
            environment={"MARKERS": str(tmp_path)},
            init_timeout=60,
        )
        processes.add(backend, spec)
        served = Served(backend, server)
        status, answer = await act(served, "start", function="echo", input='{"n": 7}')
        assert status == 200, answer
        info = await backend.wait_for_completion(answer["arn"])
        assert info.status == "SUCCEEDED", info.error
        status, html, _ = await served.page(answer["location"])
        assert status == 200
        assert "SUCCEEDED" in html
        result = json.loads(info.result or "")
        assert result["pid"] != os.getpid()
        assert f"&quot;pid&quot;: {result['pid']}" in html  # the process's result, shown
