"""Function processes over Lambda's Runtime API: real process isolation, locally.

:class:`FunctionProcesses` starts each function's process itself — for instance
``python -m awslambdaric app.handler``, or any language's runtime interface client — with
the environment Lambda gives (``AWS_LAMBDA_RUNTIME_API``, ``AWS_LAMBDA_FUNCTION_NAME``,
``_HANDLER``, placeholder credentials, ``AWS_REGION``, and ``AWS_ENDPOINT_URL_LAMBDA``
pointing at the backend's HTTP routes so the function's SDK checkpoints there), and hands
it invocations through the Runtime API (:mod:`aiodurable.local.runtime_api`).

A process is a sandbox: it serves one invocation at a time and stays warm for the next;
concurrent invocations of one function start more sandboxes. What ends an invocation
abnormally is reported as Lambda reports it and the sandbox is discarded:

* the process exits or is killed: ``Runtime.ExitError`` (``Runtime exited with error:
  exit status 1`` / ``signal: killed``);
* it outlives the function's timeout: it is killed, ``Sandbox.Timedout`` (``Task timed out
  after 3.00 seconds``);
* its resident memory exceeds the function's memory size: it is killed,
  ``Runtime.OutOfMemory``;
* it reported an initialisation error (``/init/error``): that error.

The backend records the failed invocation in the history (``InvocationCompleted`` with the
error) and invokes again, as the service does. Processes die with the backend: each is
asked by the kernel to be killed when its parent dies (``kill -9`` of ``aiodurable serve``
leaves no orphan), and they are killed when the ``async with`` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from aiodurable.local.function_targets import FunctionInvocationError
from aiodurable.local.runtime_api import PendingInvocation, RuntimeApiServer

__all__ = ["FunctionProcesses", "PlainProcessTarget", "ProcessFunction", "ProcessTarget"]

#: How often a running invocation's process memory is measured.
MEMORY_POLL_SECONDS = 0.05
#: Placeholder credentials: the function's SDK signs its calls, the local backend ignores it.
PLACEHOLDER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


@dataclass(frozen=True)
class ProcessFunction:
    """How to run one function as a process over the Runtime API.

    Args:
        name: the function name.
        command: the process's command line (a string is split as a shell would).
        handler: ``_HANDLER`` (default: the command's last word, as in
            ``python -m awslambdaric app.handler``).
        timeout: the function timeout in seconds (Lambda's default is 3), counted from the
            moment the process takes the invocation.
        init_timeout: how long a new process may take to ask for its first invocation
            (Lambda's init phase: 10 seconds).
        memory: the memory size in MB; a process whose resident memory exceeds it is
            killed as out of memory.
        environment: more environment variables for the process.
        cwd: its working directory (default: the backend's).
        durable: ``False`` for a plain function, called once per chained invoke.
    """

    name: str
    command: Sequence[str] | str
    handler: str | None = None
    timeout: float = 60.0
    init_timeout: float = 10.0
    memory: int = 1024
    environment: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    durable: bool = True

    @property
    def argv(self) -> list[str]:
        if isinstance(self.command, str):
            return shlex.split(self.command)
        return list(self.command)


#: Started in place of the function's command, it asks the kernel to kill it when its parent
#: (the backend's process) dies — even by SIGKILL, where no cleanup code of ours can run —
#: then becomes the command (exec: same process). A ``preexec_fn`` would do the same
#: between fork and exec, which is unsafe while the backend runs threads (sync steps).
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
    "    if os.getppid() != int(sys.argv[1]): os._exit(1)  # the parent died before that\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def _resident_mb(pid: int) -> float:
    # procfs is generated in memory on read: this does not wait on a disk.
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


async def _forward(
    stream: asyncio.StreamReader, name: str, on_output: Callable[[str, str], None]
) -> None:
    """Hand each line the process writes to ``on_output`` until it closes its output."""
    while True:
        try:
            line = await stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            line = end.partial  # the last line, without its newline
        except asyncio.LimitOverrunError as long:
            line = await stream.read(long.consumed)  # a line longer than the buffer: a piece
        if not line:
            return
        on_output(name, line.decode(errors="replace").rstrip("\n"))


def _exit_description(returncode: int) -> str:
    if returncode < 0:
        return f"signal: {signal.Signals(-returncode).name.removeprefix('SIG').lower()}"
    return f"exit status {returncode}"


class _Sandbox:
    """One process of one function and its Runtime API."""

    def __init__(self, spec: ProcessFunction) -> None:
        self.spec = spec
        self.api = RuntimeApiServer()
        self.process: asyncio.subprocess.Process | None = None
        self.exited: asyncio.Task[int] | None = None
        self.last_used = time.monotonic()

    async def start(self, host: FunctionProcesses) -> None:
        await self.api.start()
        spec = self.spec
        argv = spec.argv
        env = {
            **os.environ,
            **PLACEHOLDER_CREDENTIALS,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": "aiodurable-local",
            "AWS_REGION": host.region,
            "AWS_DEFAULT_REGION": host.region,
            "AWS_ENDPOINT_URL_LAMBDA": host.lambda_endpoint,
            "_HANDLER": spec.handler or (argv[-1] if argv else ""),
            "LAMBDA_TASK_ROOT": spec.cwd or os.getcwd(),
            **spec.environment,
        }
        program = argv[0] if argv else ""
        if "/" in program:
            program = os.path.join(spec.cwd or os.getcwd(), program)
        if not argv or shutil.which(program) is None:
            await self.api.stop()
            raise FunctionInvocationError(
                f"cannot start {spec.name}: {program!r} is not an executable program "
                f"(command {shlex.join(argv)!r})",
                error_type="Runtime.InvalidEntrypoint",
            )
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _DIE_WITH_PARENT,
                str(os.getpid()),
                *argv,
                env=env,
                cwd=spec.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if host.on_output else host.output,
                stderr=asyncio.subprocess.STDOUT if host.on_output else host.output,
            )
        except OSError as exc:
            await self.api.stop()
            raise FunctionInvocationError(
                f"cannot start {spec.name}'s process {shlex.join(argv)}: {exc}",
                error_type="Runtime.InvalidEntrypoint",
            ) from exc
        self.exited = host.spawn(self.process.wait(), f"aiodurable-sandbox {spec.name}")
        if host.on_output is not None and self.process.stdout is not None:
            host.spawn(
                _forward(self.process.stdout, spec.name, host.on_output),
                f"aiodurable-sandbox-output {spec.name}",
            )

    async def invoke(self, invocation: PendingInvocation) -> bytes:
        """Run ``invocation`` here; its output, or the error Lambda would report."""
        assert self.process is not None
        assert self.exited is not None
        spec = self.spec
        self.api.hand_over(invocation)
        init_failed = asyncio.ensure_future(self.api.init_failed.wait())
        picked_up = asyncio.ensure_future(invocation.picked_up.wait())
        loop = asyncio.get_running_loop()
        # Until the process asks for the invocation it is starting (Lambda's init phase,
        # limited on its own); the function's timeout runs from then on.
        deadline = loop.time() + spec.init_timeout
        started = False
        prefix = f"RequestId: {invocation.request_id} Error:"
        try:
            while True:
                if not started and picked_up.done():
                    started = True
                    deadline = loop.time() + spec.timeout
                remaining = deadline - loop.time()
                if remaining <= 0:
                    await self.kill()
                    what = "Task" if started else "Init phase"
                    limit = spec.timeout if started else spec.init_timeout
                    raise FunctionInvocationError(
                        f"{prefix} {what} timed out after {limit:.2f} seconds",
                        error_type="Sandbox.Timedout",
                    )
                waits: set[asyncio.Future[Any]] = {invocation.outcome, self.exited, init_failed}
                if not started:
                    waits.add(picked_up)
                done, _ = await asyncio.wait(
                    waits,
                    timeout=min(remaining, MEMORY_POLL_SECONDS),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if invocation.outcome in done:
                    return invocation.outcome.result()
                if init_failed in done and self.api.init_error is not None:
                    await self.kill()
                    raise self.api.init_error
                if self.exited in done:
                    raise FunctionInvocationError(
                        f"{prefix} Runtime exited with error: "
                        f"{_exit_description(self.exited.result())}",
                        error_type="Runtime.ExitError",
                    )
                if _resident_mb(self.process.pid) > spec.memory:
                    await self.kill()
                    raise FunctionInvocationError(
                        f"{prefix} Runtime exited with error: signal: killed "
                        f"(more than {spec.memory} MB of memory)",
                        error_type="Runtime.OutOfMemory",
                    )
        finally:
            init_failed.cancel()
            picked_up.cancel()
            self.api.current = None
            self.last_used = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.exited is not None and not self.exited.done()

    async def kill(self) -> None:
        """Kill the process (a sandbox that failed is not reused) and stop its API."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        if self.exited is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self.exited)
        await self.api.stop()


class _Target:
    def __init__(self, host: FunctionProcesses, spec: ProcessFunction) -> None:
        self.host = host
        self.spec = spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r}, {shlex.join(self.spec.argv)!r})"

    async def _call(self, value: Any) -> Any:
        body = await self.host.invoke(self.spec, json.dumps(value).encode())
        return json.loads(body) if body else None


class ProcessTarget(_Target):
    """What the backend invokes for a durable :class:`ProcessFunction`."""

    async def run(self, event: Any, lambda_context: Any = None, *, client: Any = None) -> Any:
        """Invoke the process with one durable invocation event; its output envelope."""
        return await self._call(event)


class PlainProcessTarget(_Target):
    """A plain (non-durable) function process as a chained-invoke target: called once with
    the payload, its answer is the invoke's result."""

    async def __call__(self, payload: Any) -> Any:
        return await self._call(payload)


class FunctionProcesses:
    """Function processes of one backend; processes live inside the ``async with`` block.

        async with LocalBackend() as backend, LocalHttpServer(backend, port=0) as server:
            async with FunctionProcesses(server.endpoint_url) as processes:
                command = "python -m awslambdaric app.handler"
                processes.add(backend, ProcessFunction("orders", command))

    Args:
        lambda_endpoint: the backend's HTTP routes (``AWS_ENDPOINT_URL_LAMBDA``).
        region / account: the invoked function ARN's.
        output: where the processes' stdout and stderr go (default: ours).
        on_output: instead, called with (function name, line) for each line they write.
        max_processes: processes kept at once over all functions; an idle one is stopped
            to make room, or the invocation waits for one to become idle.
    """

    def __init__(
        self,
        lambda_endpoint: str,
        *,
        region: str = "us-east-1",
        account: str = "123456789012",
        output: IO[Any] | int | None = None,
        on_output: Callable[[str, str], None] | None = None,
        max_processes: int = 64,
    ) -> None:
        self.lambda_endpoint = lambda_endpoint
        self.region = region
        self.account = account
        self.output = output
        self.on_output = on_output
        self.max_processes = max_processes
        self._idle: dict[str, list[_Sandbox]] = {}
        self._sandboxes: set[_Sandbox] = set()
        self._room = asyncio.Condition()
        self._group: asyncio.TaskGroup | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def __aenter__(self) -> FunctionProcesses:
        async with contextlib.AsyncExitStack() as stack:
            self._group = await stack.enter_async_context(asyncio.TaskGroup())
            stack.push_async_callback(self._kill_all)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
        self._group = None

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        if self._group is None:
            coro.close()
            raise RuntimeError("use FunctionProcesses inside 'async with'")
        return self._group.create_task(coro, name=name)

    def target(self, spec: ProcessFunction) -> ProcessTarget | PlainProcessTarget:
        """The object to register with the backend for ``spec``."""
        return ProcessTarget(self, spec) if spec.durable else PlainProcessTarget(self, spec)

    def add(self, backend: Any, spec: ProcessFunction) -> None:
        """Register ``spec`` with ``backend`` (a LocalBackend or LocalRunner)."""
        backend.register(spec.name, self.target(spec))

    async def invoke(self, spec: ProcessFunction, payload: bytes) -> bytes:
        """One invocation of ``spec``'s function in one of its sandboxes."""
        sandbox = await self._acquire(spec)
        invocation = PendingInvocation(
            request_id=str(uuid.uuid4()),
            payload=payload,
            timeout=spec.timeout,
            function_arn=f"arn:aws:lambda:{self.region}:{self.account}:function:{spec.name}",
        )
        try:
            output = await sandbox.invoke(invocation)
        except BaseException:
            await self._discard(sandbox)
            raise
        self._release(sandbox)
        return output

    async def stop_idle(self) -> None:
        """Stop every process that runs no invocation now (they start again when needed)."""
        for idle in self._idle.values():
            while idle:
                await self._discard(idle[-1])

    async def _acquire(self, spec: ProcessFunction) -> _Sandbox:
        idle = self._idle.setdefault(spec.name, [])
        while idle:
            sandbox = idle.pop()
            if sandbox.alive and sandbox.spec == spec:
                return sandbox
            await self._discard(sandbox)
        async with self._room:
            while len(self._sandboxes) >= self.max_processes:
                oldest = min(
                    (s for s in self._sandboxes if s in self._idle.get(s.spec.name, [])),
                    key=lambda s: s.last_used,
                    default=None,
                )
                if oldest is None:
                    await self._room.wait()
                    continue
                self._idle[oldest.spec.name].remove(oldest)
                self._sandboxes.discard(oldest)
                await oldest.kill()
            sandbox = _Sandbox(spec)
            self._sandboxes.add(sandbox)
        try:
            await sandbox.start(self)
        except BaseException:
            await self._discard(sandbox)
            raise
        return sandbox

    def _release(self, sandbox: _Sandbox) -> None:
        self._idle.setdefault(sandbox.spec.name, []).append(sandbox)
        self.spawn(self._notify(), "aiodurable-sandbox-room")

    async def _notify(self) -> None:
        async with self._room:
            self._room.notify_all()

    async def _discard(self, sandbox: _Sandbox) -> None:
        self._sandboxes.discard(sandbox)
        with contextlib.suppress(ValueError):
            self._idle.get(sandbox.spec.name, []).remove(sandbox)
        await sandbox.kill()
        async with self._room:
            self._room.notify_all()

    async def _kill_all(self) -> None:
        sandboxes, self._sandboxes = list(self._sandboxes), set()
        self._idle.clear()
        for sandbox in sandboxes:
            if sandbox.process is not None and sandbox.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    sandbox.process.kill()
        for sandbox in sandboxes:
            await sandbox.kill()
