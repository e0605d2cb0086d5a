"""Simulating a Lambda runtime crash in the middle of a step (CONF 1-17, 1-18, 3-12).

A real handler would call ``os._exit``; in-process we raise ``SystemExit``, which no
durable operation treats as a step failure: the runtime ends the invocation with
``aiodurable.InvocationExitError`` and checkpoints nothing for the interrupted work.
Both backends record that as a failed invocation with ``Runtime.ExitError``, as Lambda
does for an exited process, and invoke again. Called by a Lambda runtime client (the
``runtime-api`` backend runs each function in its own awslambdaric process), the
handler's entry point ends the process for real.

Which executions already crashed once is kept in marker files, standing in for the
external store (DynamoDB) the requirement's own handler uses: they outlive the process
that crashed, as that store would.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

_ENV = "AIODURABLE_CONFORMANCE_CRASHES"
if _ENV not in os.environ:
    # The first importer (the harness) makes the directory, its function processes
    # inherit it, and it goes when the harness exits.
    os.environ[_ENV] = tempfile.mkdtemp(prefix="aiodurable-crashes-")
    atexit.register(shutil.rmtree, os.environ[_ENV], ignore_errors=True)
#: One marker file per execution that crashed; a fresh directory per harness run.
MARKERS = Path(os.environ[_ENV])


class RuntimeExit(SystemExit):
    """The Lambda process exits with status 1."""

    def __init__(self) -> None:
        super().__init__(1)


def crash_once(execution_arn: str) -> None:
    """Exit the 'process' the first time this is reached for an execution."""
    marker = MARKERS / hashlib.sha256(execution_arn.encode()).hexdigest()
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return
    raise RuntimeExit
