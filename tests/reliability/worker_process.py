"""Run a kill -9 worker script in its own interpreter, as the crash tests do."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path


async def run_worker_script(script: Path, *args: str) -> tuple[int, str]:
    """Run ``script`` with ``args``; its exit code (``-9`` when killed) and its output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()
