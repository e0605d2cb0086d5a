"""``aiodurable run`` and ``aiodurable serve``: the local backend in this process.

``run`` follows its execution with the live view until it ends. With ``--serve`` and a
virtual clock, time still jumps over waits and retries but never to a callback's
deadline: a person or a process may answer first, so the run waits for them and says
so. Without ``--serve`` nothing can answer a callback; a callback with no timeout then
means the run can never finish, and it ends with one line saying which command would
answer it.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import shlex
import sqlite3
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from aiodurable.cli.function_options import split_endpoints, start_function_processes
from aiodurable.cli.interrupts import Interrupts
from aiodurable.cli.live import View, make_view
from aiodurable.cli.progress import duration, unanswerable_callbacks
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
from aiodurable.local.errors import ExecutionAlreadyStartedError, ServiceError
from aiodurable.local.http import DEFAULT_HOST, LocalHttpServer
from aiodurable.local.records import ExecutionInfo
from aiodurable.wire import Operation, OperationStatus, OperationType
from aiodurable.wire.callback_names import display_name

__all__ = ["CannotFinishError", "run_command", "serve_command"]

#: Where a resumable run keeps its execution when the user gave no ``--store``.
SUGGESTED_STORE = ".aiodurable/run.db"


class CannotFinishError(CliError):
    """The execution waits for something nothing in this run can ever send."""

    status = 1


async def _listen(
    stack: AsyncExitStack, backend: LocalBackend, option: str, **options: Any
) -> LocalHttpServer:
    """Start the HTTP server; a port that cannot be had is one line, not a traceback."""
    host, port = options["host"], options["port"]
    try:
        return await stack.enter_async_context(LocalHttpServer(backend, **options))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                f"cannot listen on {host}:{port}: the port is in use (another "
                f"'aiodurable serve'?). Stop what uses it, or choose another port: "
                f"{option} PORT (0 picks a free one)"
            ) from None
        raise CliError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}. Check --host and {option}"
        ) from None


def _start(backend: LocalBackend, function_name: str, args: argparse.Namespace) -> ExecutionInfo:
    """Start (or resume, by name) the execution; a refusal is one line."""
    try:
        return backend.start_execution(function_name, args.input, name=args.name)
    except ExecutionAlreadyStartedError as exc:
        raise CliError(
            f"{exc}: to resume it, run it again with its original --input; "
            "to start another, give a new --name"
        ) from None
    except ServiceError as exc:
        raise CliError(str(exc)) from None


def _store(path: str | None) -> Store:
    if not path:
        return MemoryStore()
    try:
        return SqliteStore(path)
    except sqlite3.DatabaseError as exc:
        raise CliError(f"--store {path} is not an aiodurable store ({exc})") from None


def _clock(name: str) -> Clock:
    return VirtualClock() if name == "virtual" else RealClock()


def _functions(targets: list[str], plain: list[str]) -> dict[str, Any]:
    functions = dict(parse_function_spec(spec, durable_only=True) for spec in targets)
    return {**functions, **dict(parse_function_spec(spec) for spec in plain)}


def command_line(args: argparse.Namespace, **changes: Any) -> str:
    """The ``aiodurable run`` command of ``args``, with some options changed; pasteable."""
    options = {**vars(args), **changes}
    words = ["aiodurable", "run", options["target"]]
    for option in ("input", "name", "store", "clock", "function_name", "host"):
        value = options.get(option)
        if value is not None and not (option == "clock" and value == "real"):
            if option == "host" and (options.get("serve") is None or value == DEFAULT_HOST):
                continue
            words += [f"--{option.replace('_', '-')}", str(value)]
    for spec in options.get("function") or []:
        words += ["--function", spec]
    for name in options.get("allow_host") or []:
        words += ["--allow-host", name]
    if options.get("serve") is not None:
        words.append("--serve")
        if options["serve"] not in (True, 0) and isinstance(options["serve"], int):
            words.append(str(options["serve"]))
    return shlex.join(words)


async def run_command(args: argparse.Namespace, interrupts: Interrupts) -> int:
    task = asyncio.current_task()
    assert task is not None
    with interrupts.installed(task):
        try:
            return await _run(args, interrupts)
        except asyncio.CancelledError:
            if not interrupts.interrupted:
                raise
            task.uncancel()
            return 130


async def _run(args: argparse.Namespace, interrupts: Interrupts) -> int:
    handler = load_durable(args.target)
    function_name = args.function_name or args.target.rsplit(":", 1)[-1]
    if args.input is not None:
        try:
            json.loads(args.input)
        except ValueError as exc:
            raise CliError(f"--input is not JSON: {exc}") from exc
    clock = _clock(args.clock)
    modules, endpoints = split_endpoints(args.function)
    async with AsyncExitStack() as stack:
        backend = await stack.enter_async_context(
            LocalBackend(
                store=_store(args.store),
                clock=clock,
                functions={function_name: handler, **_functions([], modules), **endpoints},
            )
        )
        endpoint = None
        if args.serve is not None:
            server = await _listen(
                stack,
                backend,
                "--serve",
                host=args.host,
                port=args.serve,
                allowed_hosts=args.allow_host,
            )
            endpoint = server.endpoint_url
        view = make_view(sys.stdout, title=args.target, virtual=clock.virtual, endpoint=endpoint)
        stack.enter_context(view)
        interrupts.on_signal.append(view.close)
        if endpoint is not None:
            view.note(f"serving the local backend on {endpoint}")
        backend.on_callback_started(_callback_hint(view, endpoint))
        info = _start(backend, function_name, args)
        view.note(f"execution {info.arn}")
        interrupts.message = _resume_hint(args, info.name)
        info = await _follow(backend, info.arn, view, args, endpoint)
        view.refresh(
            backend.operations(info.arn), backend.history(info.arn), clock.now(), info.status.value
        )
        view.close()
        invocations = sum(1 for e in backend.history(info.arn) if e.invocation_completed_details)
        view.note(f"\n{info.status.value} after {invocations} invocation(s)")
        if info.result is not None:
            view.note(_pretty(info.result))
        if info.error is not None:
            view.note(f"{info.error.error_type}: {info.error.error_message}")
        return 0 if info.status.value == "SUCCEEDED" else 1


async def _follow(
    backend: LocalBackend,
    arn: str,
    view: View,
    args: argparse.Namespace,
    endpoint: str | None,
) -> ExecutionInfo:
    """Redraw the view on every change until the execution ends (or cannot)."""

    async def watch() -> None:
        while True:
            view.refresh(
                backend.operations(arn),
                backend.history(arn),
                backend.clock.now(),
                backend.describe(arn).status.value,
            )
            try:
                async with asyncio.timeout(view.tick):
                    await backend.wait_for_change()
            except TimeoutError:
                pass
            if view.frame:
                await asyncio.sleep(view.frame)  # a frame rate, not synchronisation

    async with asyncio.TaskGroup() as group:
        watcher = group.create_task(watch())
        try:
            return await _outcome(backend, arn, view, args, endpoint)
        except CannotFinishError:
            # The last picture shows what it waits for, above the one-line explanation.
            view.refresh(
                backend.operations(arn), backend.history(arn), backend.clock.now(), "STALLED"
            )
            raise
        finally:
            watcher.cancel()


async def _outcome(
    backend: LocalBackend,
    arn: str,
    view: View,
    args: argparse.Namespace,
    endpoint: str | None,
) -> ExecutionInfo:
    held: set[str] = set()

    def paused() -> bool:
        return backend.describe(arn).status.value == "PAUSED"

    while True:
        try:
            if endpoint is not None or backend.clock.virtual:
                return await backend.wait_for_completion(arn)
            # Real time, nothing serves this run: no stall detection in the backend
            # (time passes by itself), so notice a callback nobody can ever answer here.
            await backend.wait_until(
                lambda: backend.describe(arn).done or bool(_unanswerable(backend, arn))
            )
            if backend.describe(arn).done:
                return backend.describe(arn)
            raise ExecutionStalledError("waits for a callback nobody can answer")
        except ExecutionStalledError as exc:
            if endpoint is not None and paused():
                if arn not in held:  # said once per pause
                    held.add(arn)
                    view.note(f"paused: `aiodurable resume {arn} --endpoint-url {endpoint}`")
                await backend.wait_until(lambda: not backend.stalled or not paused())
                if not paused():
                    held.discard(arn)
                continue
            open_callbacks = [
                op
                for op in backend.operations(arn)
                if op.type is OperationType.CALLBACK and op.status is OperationStatus.STARTED
            ]
            if endpoint is None or not open_callbacks:
                raise CannotFinishError(_cannot_finish(backend, arn, args, str(exc))) from None
            for op in open_callbacks:
                if op.id not in held:
                    held.add(op.id)
                    view.note(_held_message(backend, arn, op, endpoint))
            # A pause from another shell leaves it stalled: say so (the branch above).
            await backend.wait_until(lambda: not backend.stalled or (paused() and arn not in held))


def _unanswerable(backend: LocalBackend, arn: str) -> list[Any]:
    return unanswerable_callbacks(
        backend.operations(arn), backend.history(arn), invoking=backend.is_invoking(arn)
    )


def _cannot_finish(backend: LocalBackend, arn: str, args: argparse.Namespace, reason: str) -> str:
    waiting = _unanswerable(backend, arn)
    if not waiting:
        return f"the execution cannot finish: {reason}"
    callback = waiting[0]
    name = backend.describe(arn).name
    if args.store:
        rerun = command_line(args, name=name, serve=True)
        answer = f"aiodurable callback succeed {callback.callback_id} '<json>'"
    else:
        rerun = command_line(args, serve=True)
        answer = "the 'aiodurable callback succeed ...' command it prints"
    return (
        f"the execution cannot finish: callback '{callback.name}' has no timeout and nothing "
        f"can answer it without --serve. Run `{rerun}` and answer it from another shell "
        f"with {answer}"
    )


def _held_message(backend: LocalBackend, arn: str, op: Operation, endpoint: str) -> str:
    callback_id = op.callback_details.callback_id if op.callback_details else None
    events = backend.history(arn)
    elapsed = (backend.clock.now() - events[0].event_timestamp).total_seconds() if events else 0
    name = display_name(op, width=64)
    return (
        f"virtual time stands still at +{duration(elapsed)}: callback '{name}' "
        "can still be answered, so its timeout does not pass on its own. Answer it: "
        f"aiodurable callback succeed {callback_id} '<json>' --endpoint-url {endpoint}"
    )


def _resume_hint(args: argparse.Namespace, name: str) -> str:
    if args.store:
        return (
            f"interrupted; the execution is kept in {args.store}. Resume it with: "
            f"{command_line(args, name=name)}"
        )
    return (
        "interrupted; the execution lived in memory (no --store) and is gone. To be able "
        f"to resume, run it with a store: {command_line(args, store=SUGGESTED_STORE)}"
    )


def _callback_hint(view: View, endpoint: str | None) -> Callable[[str, Operation], None]:
    def hint(arn: str, op: Operation) -> None:
        callback_id = op.callback_details.callback_id if op.callback_details else None
        if endpoint is not None:
            view.note(
                f"waiting for callback {display_name(op, width=64)}: aiodurable callback succeed "
                f"{callback_id} '<json>' --endpoint-url {endpoint}"
            )
            return
        view.note(
            f"callback {display_name(op, width=64)} cannot be answered: nothing serves this run "
            "(with --serve it can be answered from another shell)"
        )

    return hint


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


async def serve_command(args: argparse.Namespace, interrupts: Interrupts) -> int:
    task = asyncio.current_task()
    assert task is not None
    with interrupts.installed(task):
        try:
            await _serve(args)
        except asyncio.CancelledError:
            if not interrupts.interrupted:
                raise
            task.uncancel()
    return 0


async def _serve(args: argparse.Namespace) -> None:
    modules, endpoints = split_endpoints(args.function)
    functions = {**_functions(args.targets, modules), **endpoints}
    clock = _clock(args.clock)
    async with AsyncExitStack() as stack:
        backend = await stack.enter_async_context(
            LocalBackend(store=_store(args.store), clock=clock, functions=functions)
        )
        server = await _listen(
            stack,
            backend,
            "--port",
            host=args.host,
            port=args.port,
            allowed_hosts=args.allow_host,
            ui=not args.no_ui,
        )
        processes = await start_function_processes(stack, backend, server.endpoint_url, args)
        names = ", ".join([*functions, *processes]) or "none"
        print(
            f"aiodurable local backend listening on {server.endpoint_url} (functions: {names})",
            flush=True,
        )
        if not args.no_ui:
            print(f"web UI: {server.endpoint_url}/ui/", flush=True)
        await asyncio.Future()  # until a signal cancels it
