"""Run a set of requirements on a named backend, starting and stopping the backend."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from .requirements import Manifest
from .runner import Backend, Outcome, run_suite

BACKENDS = ("local", "emulator")
#: Where the emulator's own log goes (it is quiet unless something is wrong).
EMULATOR_LOG = Path(os.environ.get("CONFORMANCE_EMULATOR_LOG", "/tmp/aiodurable-emulator.log"))


class BackendUnavailable(Exception):
    """The backend cannot run here (yet); its requirements are skipped."""


@contextlib.asynccontextmanager
async def open_backend(name: str) -> AsyncIterator[Backend]:
    manifest = Manifest.load()
    if name == "emulator":
        from .backends.emulator import EmulatorBackend

        async with EmulatorBackend.running(
            manifest.functions(), list(manifest.targets), log_path=EMULATOR_LOG
        ) as emulator:
            yield emulator
    elif name == "local":
        from .backends.local import LocalBackend

        async with LocalBackend.running(manifest.functions()) as local:
            yield local
    else:
        raise ValueError(f"unknown backend {name!r}; choose from {BACKENDS}")


async def run_on(name: str, requirement_ids: Iterable[str]) -> dict[str, Outcome]:
    """Every requirement's outcome on backend ``name``."""
    async with open_backend(name) as backend:
        return await run_suite(backend, requirement_ids)
