"""``aiodurable serve`` options for functions outside the backend's process.

* ``--function NAME=http://HOST:PORT``: a durable function at a Lambda Invoke endpoint
  (``sam local start-lambda``, another server); it checkpoints back to ``serve``.
* ``--function-process NAME=COMMAND``: a function process ``serve`` starts itself and
  drives over the Lambda Runtime API, e.g.
  ``--function-process orders='python -m awslambdaric app.handler'``;
  ``--function-timeout`` and ``--function-memory`` are Lambda's timeout and memory size.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from typing import Any

from aiodurable.cli.targets import CliError
from aiodurable.local.function_targets import InvokeEndpoint
from aiodurable.local.processes import FunctionProcesses, ProcessFunction
from aiodurable.local.registry import NAME_PATTERN

__all__ = ["add_function_options", "split_endpoints", "start_function_processes"]


def add_function_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--function-process",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="a durable function process driven over the Lambda Runtime API, e.g. "
        "orders='python -m awslambdaric app.handler'; repeatable",
    )
    parser.add_argument(
        "--function-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="timeout of each function process's invocation (default 60)",
    )
    parser.add_argument(
        "--function-memory",
        type=int,
        default=1024,
        metavar="MB",
        help="memory size of each function process (default 1024)",
    )


def _named(spec: str, option: str, example: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not value or not NAME_PATTERN.fullmatch(name):
        raise CliError(f"{option} {spec!r} is not NAME=VALUE (e.g. {option} {example})")
    return name, value


def split_endpoints(specs: list[str]) -> tuple[list[str], dict[str, InvokeEndpoint]]:
    """``--function`` specs: (``MODULE:ATTR`` ones, functions at Invoke endpoints)."""
    modules: list[str] = []
    endpoints: dict[str, InvokeEndpoint] = {}
    for spec in specs:
        _, _, value = spec.partition("=")
        if re.match(r"https?://", value):
            name, url = _named(spec, "--function", "orders=http://127.0.0.1:3001")
            endpoints[name] = InvokeEndpoint(url, name)
        else:
            modules.append(spec)
    return modules, endpoints


async def start_function_processes(
    stack: contextlib.AsyncExitStack, backend: Any, endpoint_url: str, args: argparse.Namespace
) -> list[str]:
    """Register the ``--function-process`` functions with ``backend``; their names."""
    specs = [
        _named(spec, "--function-process", "orders='python -m awslambdaric app.handler'")
        for spec in args.function_process
    ]
    if not specs:
        return []
    if args.function_timeout <= 0 or args.function_memory <= 0:
        raise CliError("--function-timeout and --function-memory must be positive")
    processes = await stack.enter_async_context(
        FunctionProcesses(endpoint_url, region=backend.region, account=backend.account)
    )
    for name, command in specs:
        processes.add(
            backend,
            ProcessFunction(
                name, command, timeout=args.function_timeout, memory=args.function_memory
            ),
        )
    return [name for name, _ in specs]
