"""``aiodurable serve`` with every function in its own process, over the Runtime API.

Each requirement gets what ``aiodurable serve --function-process …`` sets up: a local
backend on a virtual clock (moved by the runner, as for the ``local`` backend), its HTTP
routes on a free port, and :class:`~aiodurable.local.processes.FunctionProcesses`, which
starts ``python -m awslambdaric <handler>`` for a function when it is first invoked. The
function checkpoints back over HTTP with its own SDK and its own boto3.

Two sets of handlers run this way:

* ``official``: the official Python SDK's own conformance handlers
  (:mod:`tests.conformance.official`), from their own virtualenv;
* ``runtime-api``: our handlers (``manifest.json``), from this virtualenv.

What the processes print goes to :data:`~tests.conformance.execution_logs.EXECUTION_LOGS`,
which files each JSON line under the execution it names, as CloudWatch's filter would.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiodurable.local.backend import LocalBackend as Service
from aiodurable.local.clock import VirtualClock
from aiodurable.local.http import LocalHttpServer
from aiodurable.local.processes import FunctionProcesses, ProcessFunction

from ..execution_logs import EXECUTION_LOGS
from ..handlers import crash
from ..official import ROOT
from ..requirements import Manifest
from .local import LocalBackend, _service

REGION = "us-east-1"
ACCOUNT = "123456789012"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def our_functions() -> dict[str, ProcessFunction]:
    """Our conformance handlers (``manifest.json``), each run by awslambdaric."""
    manifest = Manifest.load()
    from ..requirements import all_requirements

    requirements = all_requirements()
    references = {requirements[rid].function_name: ref for rid, ref in manifest.handlers.items()}
    references.update(manifest.targets)
    # The crash markers outlive each process: all of them share this run's directory.
    environment = {"AIODURABLE_CONFORMANCE_CRASHES": str(crash.MARKERS)}
    functions = {}
    for name, reference in references.items():
        module, _, attribute = reference.partition(":")
        handler = f"tests.conformance.handlers.{module}.{attribute}"
        functions[name] = ProcessFunction(
            name,
            [sys.executable, "-m", "awslambdaric", handler],
            timeout=60,
            memory=1024,
            environment=environment,
            cwd=str(ROOT),
            init_timeout=60,  # many processes start at once on a small machine
        )
    return functions


def _output(function_name: str, line: str) -> None:
    # awslambdaric ends a text log record that carries a traceback without a newline: on
    # Lambda each record is its own log event, on a pipe the next line (a plugin's JSON
    # record) is glued to it. Split them again where a JSON record starts.
    start = line.find('{"')
    if start > 0:
        EXECUTION_LOGS.write(line[:start])
        line = line[start:]
    EXECUTION_LOGS.write(line)


class RuntimeApiBackend(LocalBackend):
    """The local backend, its HTTP routes and one process per function; see the module."""

    #: Requirements in flight at once: each starts processes, and the machine is small.
    concurrency = 8

    def __init__(
        self,
        name: str,
        functions: Mapping[str, ProcessFunction],
        stack: contextlib.AsyncExitStack,
    ) -> None:
        super().__init__({}, stack)
        self.name = name
        self._process_functions = functions
        self._processes: dict[str, FunctionProcesses] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def running_processes(
        cls, name: str, functions: Mapping[str, ProcessFunction]
    ) -> AsyncIterator[RuntimeApiBackend]:
        async with contextlib.AsyncExitStack() as stack:
            yield cls(name, functions, stack)

    async def start(self, function_name: str, payload: str) -> str:
        service = Service(
            clock=VirtualClock(auto_advance=False),
            region=REGION,
            account=ACCOUNT,
            invocation_retry_delay=1.0,
        )
        await self._stack.enter_async_context(service)
        server = await self._stack.enter_async_context(LocalHttpServer(service, port=0))
        processes = await self._stack.enter_async_context(
            FunctionProcesses(
                server.endpoint_url, region=REGION, account=ACCOUNT, on_output=_output
            )
        )
        for spec in self._process_functions.values():
            processes.add(service, spec)
        _service.set(service)
        arn = service.start_execution(function_name, payload).arn
        self._processes[arn] = processes
        return arn

    async def execution(self, arn: str) -> dict[str, Any]:
        answer = await super().execution(arn)
        if answer["Status"] in TERMINAL and arn in self._processes:
            # Its processes are done: free their memory for the requirements still running.
            await self._processes.pop(arn).stop_idle()
        return answer
