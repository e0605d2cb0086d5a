"""W7: a Lambda sandbox's first invocation, end to end, in a fresh process per sample.

What a cold start pays, for each SDK: the interpreter imports the handler module, the
SDK creates its real default Lambda client (aiobotocore for aiodurable, boto3 for the
official SDK, botocore for the community SDK) and runs one invocation whose single step
is checkpointed over HTTPS, as on Lambda. The service is aiodurable's local backend
behind its HTTP server in this (parent) process, serving TLS with a self-signed
certificate; each SDK reaches it through ``AWS_ENDPOINT_URL_LAMBDA`` and trusts it
through ``AWS_CA_BUNDLE``: botocore's own CA bundle plus that certificate, so every SDK
loads a full bundle, as Lambda's endpoint makes it do. The backend starts the execution
and hands the invocation event to a fresh interpreter, which reports how long it took
from before the handler import to the handler's return.

aiodurable runs from the package ``make lambda-zip`` builds (for this machine's Python
and platform), unpacked and first on ``sys.path`` of an interpreter that sees nothing
else (``-I -S``), as Lambda runs ``/var/task``; the peers run from their virtualenvs.
No process writes bytecode (``-B``: Lambda's file system is read-only).

The first process of each SDK is discarded: it leaves the bytecode and page caches as a
warm Lambda image has them. The SDKs take turns, one process each per round, so that the
load of a shared machine weighs on all of them alike; each process also reports its CPU
time (all threads), which such load disturbs less than wall time.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "HANDLERS",
    "ColdStartResult",
    "Runtime",
    "lambda_package",
    "measure_cold_starts",
    "tls_endpoint",
]

#: The handler module of each SDK: one step, its result returned. ``invoke`` is what the
#: Lambda runtime does with the module: call the handler with the event and a context.
HANDLERS = {
    # An ``async def`` step, as in the warm workloads and the community SDK's handler
    # (a plain function would run in a worker thread: the official SDK's only kind).
    "aiodurable": (
        "from aiodurable import DurableContext, durable_execution\n"
        "async def _one():\n"
        "    return 'ok'\n"
        "@durable_execution\n"
        "async def handler(event, ctx: DurableContext):\n"
        "    return await ctx.step(_one, name='one')\n"
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
if len(sys.argv) > 2:
    sys.path.insert(0, sys.argv[2])  # the unpacked Lambda package, as /var/task
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


@dataclass(frozen=True)
class Runtime:
    """How one SDK's fresh processes start: an interpreter, and the unpacked Lambda
    package to put first on ``sys.path`` (``-I -S``: nothing else) if there is one."""

    python: str
    package: str | None = None


def tls_endpoint(workdir: Path) -> tuple[ssl.SSLContext, Path]:
    """The server's TLS context (a self-signed certificate for 127.0.0.1, made with the
    ``openssl`` command) and the CA bundle clients are given: botocore's, plus it."""
    import botocore  # type: ignore[import-untyped]

    key, cert = workdir / "key.pem", workdir / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    bundle = workdir / "ca-bundle.pem"
    botocore_bundle = Path(botocore.__file__).parent / "cacert.pem"
    bundle.write_text(botocore_bundle.read_text() + "\n" + cert.read_text())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, bundle


def lambda_package(bin_dir: Path, workdir: Path) -> Path:
    """``make lambda-zip`` for this machine (its Python and platform), with ``bin_dir``'s
    pip; the zip unpacked into ``workdir/task``, as Lambda unpacks it into /var/task."""
    from benchmarks.venvs import REPO

    archive = workdir / "lambda.zip"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed-demo", "lambda-zip",
         f"BIN={bin_dir}", f"LAMBDA_ZIP={archive}", f"LAMBDA_PYTHON={version}",
         "LAMBDA_PLATFORM="],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    task = workdir / "task"
    with zipfile.ZipFile(archive) as package:
        package.extractall(task)
    return task


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
        runtime: Runtime,
        code: str,
        endpoint: str,
        ca_bundle: Path,
        result: ColdStartResult,
        flags: tuple[str, ...] = (),
    ) -> None:
        self.runtime = runtime
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
            "AWS_CA_BUNDLE": str(ca_bundle),
        }
        self.record = True

    async def run(
        self, event: dict[str, Any], lambda_context: Any = None, *, client: Any = None
    ) -> Any:
        isolation = ("-I", "-B") if self.runtime.package is None else ("-I", "-S", "-B")
        package = () if self.runtime.package is None else (self.runtime.package,)
        process = await asyncio.create_subprocess_exec(
            self.runtime.python,
            *self.flags,
            *isolation,
            "-c",
            _CHILD,
            self.code,
            *package,
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
    runtimes: dict[str, Runtime], repeats: int, flags: tuple[str, ...] = ()
) -> tuple[list[ColdStartResult], dict[str, str]]:
    """``repeats`` recorded processes per SDK, taken in turns (one of each SDK per round)
    so that a change in the machine's load falls on every SDK alike."""
    from aiodurable.local import LocalBackend
    from aiodurable.local.http import LocalHttpServer

    results = {sdk: ColdStartResult(sdk) for sdk in runtimes}
    with tempfile.TemporaryDirectory(prefix="cold-tls-") as tls_dir:
        server_tls, bundle = tls_endpoint(Path(tls_dir))
        async with (
            LocalBackend() as backend,
            LocalHttpServer(backend, port=0, ssl_context=server_tls) as server,
        ):
            targets = {
                sdk: _ColdProcess(
                    runtime, HANDLERS[sdk], server.endpoint_url, bundle, results[sdk], flags
                )
                for sdk, runtime in runtimes.items()
            }
            for sdk, target in targets.items():
                backend.register(f"cold-{sdk}", target)
            await _rounds(backend, targets, repeats)
    return list(results.values()), {sdk: t.stderr for sdk, t in targets.items()}


async def _rounds(backend: Any, targets: dict[str, _ColdProcess], repeats: int) -> None:
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


def measure_cold_starts(runtimes: dict[str, Runtime], repeats: int = 10) -> list[ColdStartResult]:
    """One :class:`ColdStartResult` per SDK (``runtimes``: SDK → how its processes start)."""
    return asyncio.run(_measure(runtimes, repeats))[0]


#: One default TLS context (the system CA bundle), ``import aiohttp``, and aiohttp imported
#: as aiodurable's default client imports it (its default contexts' CA loads deferred to
#: first use), each in a fresh interpreter whose asyncio and ssl are already imported.
_TLS_PROBE = """
import asyncio, ssl, sys, time
if sys.argv[1] == "deferred":
    from aiodurable.service.aiohttp_import import import_aiohttp
started = time.perf_counter()
if sys.argv[1] == "context":
    ssl.create_default_context()
elif sys.argv[1] == "aiohttp":
    import aiohttp
else:
    import_aiohttp()
print(time.perf_counter() - started)
"""


def tls_profile(python: str, repeats: int = 7) -> dict[str, float]:
    """Median seconds, each in fresh processes of ``python``: loading the CA bundle into
    one TLS context (what ``ssl.create_default_context()`` does, and aiohttp twice at
    import); ``import aiohttp``; and aiohttp imported by
    :func:`aiodurable.service.aiohttp_import.import_aiohttp`."""
    profile = {}
    for kind in ("context", "aiohttp", "deferred"):
        samples = []
        for _ in range(repeats + 1):
            done = subprocess.run(
                [python, "-I", "-c", _TLS_PROBE, kind], capture_output=True, text=True, check=True
            )
            samples.append(float(done.stdout.strip()))
        profile[kind] = statistics.median(samples[1:])
    return profile


def import_profile(runtime: Runtime, sdk: str, top: int = 12) -> list[tuple[str, float]]:
    """The costliest imports of one cold first invocation (``-X importtime``): modules
    at the top two levels of the import tree, by cumulative seconds, costliest first."""
    stderr = asyncio.run(_measure({sdk: runtime}, 0, ("-X", "importtime")))[1][sdk]
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


def runtimes_for(envs: dict[str, Any], workdir: Path) -> dict[str, Runtime]:
    """Each SDK's :class:`Runtime`: its venv's interpreter; for aiodurable, that
    interpreter bare, on the package ``make lambda-zip`` builds (in ``workdir``)."""
    runtimes = {sdk: Runtime(env.python) for sdk, env in envs.items()}
    if "aiodurable" in envs:
        task = lambda_package(envs["aiodurable"].bin, workdir)
        runtimes["aiodurable"] = Runtime(envs["aiodurable"].python, str(task))
    return runtimes


if __name__ == "__main__":
    import argparse

    from benchmarks import venvs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--sdk", action="append", choices=sorted(HANDLERS))
    args = parser.parse_args()
    chosen = args.sdk or list(HANDLERS)
    with tempfile.TemporaryDirectory(prefix="cold-package-") as workdir:
        runtimes = runtimes_for({s: venvs.ensure(s) for s in chosen}, Path(workdir))
        results = measure_cold_starts(runtimes, args.repeats)
    for r in results:
        print(
            f"{r.sdk:12} median {r.median * 1000:7.1f} ms  (import {r.median_import * 1000:6.1f}"
            f" ms, CPU {r.median_cpu * 1000:6.1f} ms)"
        )
