"""Run a set of requirements on a named backend, starting and stopping the backend.

Backends: ``local`` (our handlers in-process on our backend), ``emulator`` (our handlers
on AWS's emulator), ``runtime-api`` (our handlers, each function in its own awslambdaric
process, on our backend through the Runtime API, as ``aiodurable serve
--function-process`` runs them), ``official`` (the official Python SDK's own handlers the
same way) and ``emulator-official`` (the official handlers on AWS's emulator).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from .requirements import Manifest, all_requirements
from .runner import Backend, Outcome, run_suite

BACKENDS = ("local", "emulator", "runtime-api", "official", "emulator-official")
#: What ``make test`` runs; the process backends are for ``make conformance``.
QUICK_BACKENDS = ("local", "emulator")
#: Where the emulator's own log goes (it is quiet unless something is wrong).
EMULATOR_LOG = Path(os.environ.get("CONFORMANCE_EMULATOR_LOG", "/tmp/aiodurable-emulator.log"))
#: The region and account the emulator names functions with.
EMULATOR_REGION, EMULATOR_ACCOUNT = "us-west-2", "123456789012"


class BackendUnavailable(Exception):
    """The backend cannot run here (yet); its requirements are skipped."""


def _official_functions(
    region: str, account: str, environment: dict[str, str] | None = None
) -> dict[str, object]:
    from .official import OfficialUnavailable, locate, process_functions

    try:
        package, python = locate()
    except OfficialUnavailable as absent:
        raise BackendUnavailable(str(absent)) from absent
    return dict(
        process_functions(
            package,
            python,
            lambda name: f"arn:aws:lambda:{region}:{account}:function:{name}",
            environment=environment,
        )
    )


@contextlib.asynccontextmanager
async def _official_resources() -> AsyncIterator[dict[str, str]]:
    """The templates' DynamoDB tables on a moto server; the functions' environment."""
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    from ..s3_server import CREDENTIALS, running_s3_server
    from .backends.runtime_api import REGION
    from .official import OfficialUnavailable, locate, tables

    try:
        package, _ = locate()
    except OfficialUnavailable as absent:
        raise BackendUnavailable(str(absent)) from absent
    with running_s3_server() as moto:
        # moto keeps tables per region: create them where either backend's functions run.
        for region in {EMULATOR_REGION, REGION}:
            options = {**moto.client_options(), "region_name": region}
            async with get_session().create_client("dynamodb", **options) as dynamodb:
                for name, props in tables(package).items():
                    await dynamodb.create_table(
                        TableName=name,
                        AttributeDefinitions=props["AttributeDefinitions"],
                        KeySchema=props["KeySchema"],
                        BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
                    )
        keys = {k: v for k, v in CREDENTIALS.items() if k != "AWS_DEFAULT_REGION"}
        yield {"AWS_ENDPOINT_URL_DYNAMODB": moto.endpoint_url, **keys}


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
    elif name in ("runtime-api", "official"):
        from .backends.runtime_api import ACCOUNT, REGION, RuntimeApiBackend, our_functions

        async with contextlib.AsyncExitStack() as stack:
            if name == "runtime-api":
                specs = our_functions()
            else:
                environment = await stack.enter_async_context(_official_resources())
                specs = _official_functions(REGION, ACCOUNT, environment)  # type: ignore[assignment]
            backend = await stack.enter_async_context(
                RuntimeApiBackend.running_processes(name, specs)
            )
            yield backend
    elif name == "emulator-official":
        from aiodurable.local.processes import FunctionProcesses

        from .backends.emulator import EmulatorBackend, free_port
        from .backends.runtime_api import _output

        port = free_port()
        async with (
            _official_resources() as environment,
            FunctionProcesses(
                f"http://127.0.0.1:{port}",
                region=EMULATOR_REGION,
                account=EMULATOR_ACCOUNT,
                on_output=_output,
                max_processes=32,
            ) as processes,
        ):
            specs = _official_functions(EMULATOR_REGION, EMULATOR_ACCOUNT, environment)
            targets = {n: processes.target(spec) for n, spec in specs.items()}  # type: ignore[arg-type]
            async with EmulatorBackend.running(
                targets, list(targets), log_path=EMULATOR_LOG, port=port
            ) as emulator:
                emulator.name = name
                emulator.concurrency = 8  # type: ignore[attr-defined]
                yield emulator
    else:
        raise ValueError(f"unknown backend {name!r}; choose from {BACKENDS}")


async def run_on(name: str, requirement_ids: Iterable[str]) -> dict[str, Outcome]:
    """Every requirement's outcome on backend ``name``."""
    ids = list(requirement_ids)
    async with open_backend(name) as backend:
        missing: dict[str, Outcome] = {}
        if name in ("official", "emulator-official"):
            # The official package has no handler for some requirements: not run.
            known = set(_official_functions(EMULATOR_REGION, EMULATOR_ACCOUNT))
            requirements = all_requirements()
            for rid in ids:
                if requirements[rid].function_name not in known:
                    reason = "the official SDK's package has no handler for it"
                    missing[rid] = Outcome(requirements[rid], name, "gap", [reason])
        ran = await run_suite(
            backend,
            [rid for rid in ids if rid not in missing],
            concurrency=getattr(backend, "concurrency", 64),
        )
        return {rid: missing.get(rid) or ran[rid] for rid in ids}
