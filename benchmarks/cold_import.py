"""W6: what a cold Lambda process pays to import an SDK (standard library only).

Each measurement is a fresh interpreter that times, with ``perf_counter``, either
``import <package>`` or the *handler path*: a module defining a durable handler plus
every module the SDK needs before its first checkpoint with its default Lambda client
(aiodurable loads its aiobotocore client lazily on the first invocation; the official
SDK imports boto3 and the community SDK botocore with the package).
"""

from __future__ import annotations

import json
import subprocess
import sys

__all__ = ["HANDLER_PATHS", "PACKAGES", "measure"]

PACKAGES = {
    "aiodurable": "aiodurable",
    "official": "aws_durable_execution_sdk_python",
    "community": "async_durable_execution",
}

HANDLER_PATHS = {
    "aiodurable": (
        "from aiodurable import DurableContext, durable_execution\n"
        "@durable_execution\n"
        "async def handler(event: dict, ctx: DurableContext) -> str:\n"
        "    return 'ok'\n"
        # what LambdaServiceClient.create() imports, in its order
        "import aiodurable.service.lambda_client\n"
        "from aiodurable.service.aiohttp_import import import_aiohttp\n"
        "import_aiohttp()\n"
        "import aiobotocore.session, aiobotocore.config, aiodurable.service.http_session\n"
    ),
    "official": (
        "from aws_durable_execution_sdk_python import DurableContext, durable_execution\n"
        "@durable_execution\n"
        "def handler(event: dict, ctx: DurableContext) -> str:\n"
        "    return 'ok'\n"
    ),
    "community": (
        "from async_durable_execution import durable_execution\n"
        "@durable_execution\n"
        "async def handler(event: dict) -> str:\n"
        "    return 'ok'\n"
    ),
}

_TIMER = """
import json, os, sys, time
code = sys.argv[1]
started = time.perf_counter()
exec(compile(code, "<handler>", "exec"), {"__name__": "handler_module"})
elapsed = time.perf_counter() - started
with open("/proc/self/statm") as statm:
    rss_kb = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
print(json.dumps({"seconds": elapsed, "rss_kb": rss_kb, "modules": len(sys.modules)}))
"""


def _code(sdk: str, kind: str) -> str:
    if kind == "package":
        return f"import {PACKAGES[sdk]}\n"
    return HANDLER_PATHS[sdk]


def measure(
    python: str, sdk: str, kind: str, repeats: int, timeout: float
) -> list[dict[str, float]]:
    """Import times of ``repeats`` fresh processes, after one discarded process that
    leaves the bytecode cache and the page cache as a warm Lambda image has them."""
    samples = []
    for i in range(repeats + 1):
        done = subprocess.run(
            [python, "-I", "-c", _TIMER, _code(sdk, kind)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{sdk} {kind} import failed: {done.stderr.strip()[-2000:]}")
        if i > 0:
            samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return samples


if __name__ == "__main__":
    print(json.dumps(measure(sys.executable, sys.argv[1], sys.argv[2], 5, 60.0)))
