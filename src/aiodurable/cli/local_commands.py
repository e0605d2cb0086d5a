"""``aiodurable run`` and ``aiodurable serve``: the local backend in this process."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from aiodurable.cli.live import LiveView
from aiodurable.cli.targets import CliError, load_durable, parse_function_spec
from aiodurable.local import (
    Clock,
    ExecutionStalledError,
    LocalBackend,
    MemoryStore,
    RealClock,
    SqliteStore,
    Store,
    VirtualClock,
)
from aiodurable.local.http import LocalHttpServer
from aiodurable.wire import Operation

__all__ = ["run_command", "serve_command"]


def _store(path: str | None) -> Store:
    return SqliteStore(path) if path else MemoryStore()


def _clock(name: str) -> Clock:
    return VirtualClock() if name == "virtual" else RealClock()


def _functions(targets: list[str], plain: list[str]) -> dict[str, Any]:
    functions = dict(parse_function_spec(spec, durable_only=True) for spec in targets)
    return {**functions, **dict(parse_function_spec(spec) for spec in plain)}


async def run_command(args: argparse.Namespace) -> int:
    handler = load_durable(args.target)
    function_name = args.function_name or args.target.rsplit(":", 1)[-1]
    if args.input is not None:
        try:
            json.loads(args.input)
        except ValueError as exc:
            raise CliError(f"--input is not JSON: {exc}") from exc
    out = sys.stdout
    async with AsyncExitStack() as stack:
        backend = await stack.enter_async_context(
            LocalBackend(
                store=_store(args.store),
                clock=_clock(args.clock),
                functions={function_name: handler, **_functions([], args.function)},
            )
        )
        server = None
        if args.serve is not None:
            server = await stack.enter_async_context(
                LocalHttpServer(
                    backend, host=args.host, port=args.serve, allowed_hosts=args.allow_host
                )
            )
            out.write(f"serving the local backend on {server.endpoint_url}\n")
            backend.on_callback_started(_callback_hint(out, server.endpoint_url))
        info = backend.start_execution(function_name, args.input, name=args.name)
        out.write(f"execution {info.arn}\n")
        view = LiveView(out)
        while True:
            async with asyncio.TaskGroup() as group:
                done = group.create_task(backend.wait_for_completion(info.arn))
                while not done.done():
                    view.update(backend.operations(info.arn), backend.clock.now())
                    change = group.create_task(backend.wait_for_change())
                    await asyncio.wait((done, change), return_when=asyncio.FIRST_COMPLETED)
                    change.cancel()
                try:
                    info = done.result()
                except ExecutionStalledError as exc:
                    if server is None:
                        out.write(
                            f"\n{exc}\nRun with --serve to complete callbacks from another shell.\n"
                        )
                        return 1
                    await backend.wait_for_change()
                    continue
            break
        view.update(backend.operations(info.arn), backend.clock.now())
        invocations = sum(1 for e in backend.history(info.arn) if e.invocation_completed_details)
        out.write(f"\n{info.status.value} after {invocations} invocation(s)\n")
        if info.result is not None:
            out.write(_pretty(info.result) + "\n")
        if info.error is not None:
            out.write(f"{info.error.error_type}: {info.error.error_message}\n")
        return 0 if info.status.value == "SUCCEEDED" else 1


def _callback_hint(out: Any, endpoint: str) -> Callable[[str, Operation], None]:
    def hint(arn: str, op: Operation) -> None:
        callback_id = op.callback_details.callback_id if op.callback_details else None
        out.write(
            f"waiting for callback {op.name or op.id}: aiodurable callback succeed "
            f"{callback_id} '<json>' --endpoint-url {endpoint}\n"
        )
        out.flush()

    return hint


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


async def serve_command(args: argparse.Namespace) -> int:
    functions = _functions(args.targets, args.function)
    async with (
        LocalBackend(
            store=_store(args.store), clock=_clock(args.clock), functions=functions
        ) as backend,
        LocalHttpServer(
            backend,
            host=args.host,
            port=args.port,
            allowed_hosts=args.allow_host,
            ui=not args.no_ui,
        ) as server,
    ):
        names = ", ".join(functions) or "none"
        print(
            f"aiodurable local backend listening on {server.endpoint_url} (functions: {names})",
            flush=True,
        )
        if not args.no_ui:
            print(f"web UI: {server.endpoint_url}/ui/", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    return 0
