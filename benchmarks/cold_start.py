"""W7: a Lambda sandbox's first invocation, end to end, in a fresh process per sample.

What a cold start pays, for each SDK: the interpreter imports the handler module, the
SDK creates its real default Lambda client (aiobotocore for aiodurable, boto3 for the
official SDK, botocore for the community SDK) and runs one invocation whose single step
is checkpointed over HTTP. The service is aiodurable's local backend behind its HTTP
server in this (parent) process; each SDK reaches it through ``AWS_ENDPOINT_URL_LAMBDA``,
as any botocore client would reach a custom endpoint. The backend starts the execution
and hands the invocation event to a fresh interpreter of the SDK's virtualenv, which
reports how long it took from before the handler import to the handler's return.

The first process of each SDK is discarded: it leaves the bytecode and page caches as a
warm Lambda image has them. The SDKs take turns, one process each per round, so that the
load of a shared machine weighs on all of them alike; each process also reports its CPU
time (all threads), which such load disturbs less than wall time.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HANDLERS", "ColdStartResult", "measure_cold_starts"]

#: The handler module of each SDK: one step, its result returned. ``invoke`` is what the
#: Lambda runtime does with the module: call the handler with the event and a context.
HANDLERS = {
    "aiodurable": (
        "from aiodurable import DurableContext, durable_execution\n"
        "@durable_execution\n"
        "async def handler(event, ctx: DurableContext):\n"
        "    return await ctx.step(lambda: 'ok', name='one')\n"
    ),
    "official": (
        "from aws_durable_execution_sdk_python import DurableContext, durable_execution\n"
        "@durable_execution\n"
        "def handler(event, ctx: DurableContext):\n"
        "    return ctx.step(lambda _step: 'ok', name='one')\n"
    ),
    "community": (
        "from async_durable_execution import durable_execution, step\n"
        "async def _one():\n"
        "    return 'ok'\n"
        "@durable_execution\n"
        "async def handler(event):\n"
        "    return await step(_one, name='one')\n"
    ),
}

_CHILD = """
import json, sys, time
event = json.loads(sys.stdin.read())
class LambdaContext:
    aws_request_id = "cold-start-0001"
    function_name = "cold"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold"
    memory_limit_in_mb = 1024
    def get_remaining_time_in_millis(self):
        return 900_000
cpu_started = time.process_time()
started = time.perf_counter()
module = {"__name__": "handler_module"}
exec(compile(sys.argv[1], "<handler>", "exec"), module)
imported = time.perf_counter()
output = module["handler"](event, LambdaContext())
done = time.perf_counter()
cpu = time.process_time() - cpu_started
print(json.dumps({"import": imported - started, "total": done - started, "cpu": cpu, "output": output}))
"""


@dataclass
class ColdStartResult:
    sdk: str
    #: Seconds from before the handler import to the handler's return, one per process.
    totals: list[float] = field(default_factory=list)
    #: Seconds of the handler module's import alone.
    imports: list[float] = field(default_factory=list)
    #: CPU seconds (all threads) over the same span as ``totals``: less sensitive than
    #: wall time to other processes competing for the machine.
    cpus: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.totals)

    @property
    def median_import(self) -> float:
        return statistics.median(self.imports)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpus)


class _ColdProcess:
    """A durable target of the local backend: each invocation is a fresh interpreter."""

    def __init__(
        self,
        python: str,
        code: str,
        endpoint: str,
        result: ColdStartResult,
        flags: tuple[str, ...] = (),
    ) -> None:
        self.python = python
        self.flags = flags
        self.stderr = ""
        self.code = code
        self.result = result
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "AWS_ENDPOINT_URL_LAMBDA": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "AKIDCOLDSTART",
            "AWS_SECRET_ACCESS_KEY": "cold-start-secret",
            "AWS_LAMBDA_FUNCTION_NAME": "cold",
        }
        self.record = True

    async def run(
        self, event: dict[str, Any], lambda_context: Any = None, *, client: Any = None
    ) -> Any:
        process = await asyncio.create_subprocess_exec(
            self.python,
            *self.flags,
            "-I",
            "-c",
            _CHILD,
            self.code,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        out, err = await process.communicate(json.dumps(event).encode())
        if process.returncode != 0:
            raise RuntimeError(f"{self.result.sdk}: {err.decode(errors='replace')[-2000:]}")
        self.stderr = err.decode(errors="replace")
        report = json.loads(out.decode().strip().splitlines()[-1])
        if self.record:
            self.result.totals.append(report["total"])
            self.result.imports.append(report["import"])
            self.result.cpus.append(report["cpu"])
        return report["output"]


async def _measure(
    pythons: dict[str, str], repeats: int, flags: tuple[str, ...] = ()
) -> tuple[list[ColdStartResult], dict[str, str]]:
    """``repeats`` recorded processes per SDK, taken in turns (one of each SDK per round)
    so that a change in the machine's load falls on every SDK alike."""
    from aiodurable.local import LocalBackend
    from aiodurable.local.http import LocalHttpServer

    results = {sdk: ColdStartResult(sdk) for sdk in pythons}
    async with LocalBackend() as backend, LocalHttpServer(backend, port=0) as server:
        targets = {}
        for sdk, python in pythons.items():
            code = HANDLERS[sdk]
            targets[sdk] = _ColdProcess(python, code, server.endpoint_url, results[sdk], flags)
            backend.register(f"cold-{sdk}", targets[sdk])
        for i in range(repeats + 1):
            for sdk, target in targets.items():
                target.record = i > 0
                info = backend.start_execution(f"cold-{sdk}", "{}", name=f"cold-{i}")
                final = await asyncio.wait_for(backend.wait_for_completion(info.arn), 120)
                if final.status.value != "SUCCEEDED":
                    raise RuntimeError(f"{sdk} cold start ended {final.status.value}: {final}")
                steps = [op for op in backend.operations(info.arn) if op.type.value == "STEP"]
                if len(steps) != 1:
                    raise RuntimeError(f"{sdk}: expected one checkpointed step, got {steps}")
    return list(results.values()), {sdk: t.stderr for sdk, t in targets.items()}


def measure_cold_starts(pythons: dict[str, str], repeats: int = 10) -> list[ColdStartResult]:
    """One :class:`ColdStartResult` per SDK (``pythons``: SDK → interpreter path)."""
    return asyncio.run(_measure(pythons, repeats))[0]


#: One default TLS context (the system CA bundle), and ``import aiohttp``, in a fresh
#: interpreter whose asyncio and ssl are already imported.
_TLS_PROBE = """
import asyncio, ssl, sys, time
started = time.perf_counter()
if sys.argv[1] == "context":
    ssl.create_default_context()
else:
    import aiohttp
print(time.perf_counter() - started)
"""


def tls_profile(python: str, repeats: int = 7) -> dict[str, float]:
    """Median seconds of loading the CA bundle into one TLS context (what
    ``ssl.create_default_context()`` does, and aiohttp twice at import) and of
    ``import aiohttp`` with it, each in fresh processes of ``python``."""
    import subprocess

    profile = {}
    for kind in ("context", "aiohttp"):
        samples = []
        for _ in range(repeats + 1):
            done = subprocess.run(
                [python, "-I", "-c", _TLS_PROBE, kind], capture_output=True, text=True, check=True
            )
            samples.append(float(done.stdout.strip()))
        profile[kind] = statistics.median(samples[1:])
    return profile


def import_profile(python: str, sdk: str, top: int = 12) -> list[tuple[str, float]]:
    """The costliest imports of one cold first invocation (``-X importtime``): modules
    at the top two levels of the import tree, by cumulative seconds, costliest first."""
    stderr = asyncio.run(_measure({sdk: python}, 0, ("-X", "importtime")))[1][sdk]
    rows: list[tuple[str, float, int]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue  # the header line
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((name.strip(), int(cumulative) / 1e6, depth))
    shallow = [(name, seconds) for name, seconds, depth in rows if depth <= 1]
    return sorted(shallow, key=lambda row: row[1], reverse=True)[:top]


if __name__ == "__main__":
    import argparse

    from benchmarks import venvs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--sdk", action="append", choices=sorted(HANDLERS))
    args = parser.parse_args()
    chosen = args.sdk or list(HANDLERS)
    results = measure_cold_starts({s: venvs.ensure(s).python for s in chosen}, args.repeats)
    for r in results:
        print(
            f"{r.sdk:12} median {r.median * 1000:7.1f} ms  (import {r.median_import * 1000:6.1f}"
            f" ms, CPU {r.median_cpu * 1000:6.1f} ms)"
        )
