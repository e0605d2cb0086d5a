"""The ``aiodurable`` command: run workflows locally, serve the local backend, inspect.

aiodurable run examples.fan_out:handler --input '{"count": 200}'
aiodurable run app.workflows:order --input '{"order_id": "o-1"}' --clock virtual
aiodurable serve app.workflows:order --store .aiodurable/local.db
aiodurable executions
aiodurable history ARN
aiodurable callback succeed CALLBACK_ID '"approved"'
aiodurable pause ARN --reason "deploying v2"; aiodurable resume ARN; aiodurable delete ARN
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
from collections.abc import Sequence

from aiodurable.cli.function_options import add_function_options
from aiodurable.cli.targets import CliError
from aiodurable.local.http import DEFAULT_HOST, DEFAULT_PORT

__all__ = ["main"]

#: What ``run`` and ``serve`` need beyond the runtime (the ``cli`` extra; a Lambda
#: package leaves it out).
CLI_EXTRA = ("rich",)

DEFAULT_ENDPOINT = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
ALLOW = "another name this server may be reached by (Host header); repeatable"
CLOCK = "real: waits take their time; virtual: time jumps ahead when nothing runs"
HOST = f"the address to listen on (default {DEFAULT_HOST}: this machine only)"
ENDPOINT = f"the 'aiodurable serve' to talk to (default {DEFAULT_ENDPOINT})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiodurable", description="Durable functions on the embedded local backend."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a workflow to its end, with a live view")
    run.add_argument(
        "target",
        metavar="MODULE:HANDLER",
        help="the @durable_execution handler: module or file.py, then its name",
    )
    run.add_argument("--input", help="the execution input, as JSON")
    run.add_argument("--name", help="execution name (idempotent: an existing one resumes)")
    run.add_argument("--store", metavar="PATH", help="SQLite file (default: in memory)")
    run.add_argument("--clock", choices=("real", "virtual"), default="real", help=CLOCK)
    run.add_argument(
        "--function-name", help="the handler's function name (default: the HANDLER part)"
    )
    run.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="[NAME=]MODULE:ATTR",
        help="an invoke target (durable handler or plain function); repeatable",
    )
    run.add_argument(
        "--serve",
        type=int,
        nargs="?",
        const=DEFAULT_PORT,
        metavar="PORT",
        help=f"also serve the backend over HTTP (default port {DEFAULT_PORT})",
    )
    run.add_argument("--host", default=DEFAULT_HOST, help=HOST)
    run.add_argument("--allow-host", action="append", default=[], metavar="NAME", help=ALLOW)

    serve = commands.add_parser("serve", help="serve the local backend on Lambda's REST routes")
    serve.add_argument(
        "targets",
        nargs="*",
        metavar="[NAME=]MODULE:HANDLER",
        help="durable handlers to serve, as function NAME (default: the HANDLER part)",
    )
    serve.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="[NAME=]MODULE:ATTR",
        help="an invoke target (durable handler or plain function); repeatable",
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=HOST)
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"the TCP port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME", help=ALLOW)
    serve.add_argument("--store", metavar="PATH", help="SQLite file (default: in memory)")
    serve.add_argument("--clock", choices=("real", "virtual"), default="real", help=CLOCK)
    serve.add_argument("--no-ui", action="store_true", help="do not serve the web UI at /ui/")
    add_function_options(serve)

    for name, help_text in (
        ("executions", "list executions"),
        ("history", "print an execution's history"),
    ):
        sub = commands.add_parser(name, help=help_text)
        if name == "history":
            sub.add_argument("arn", metavar="ARN", help="the execution's ARN")
            sub.add_argument("--json", action="store_true", help="print the events as JSON")
        else:
            sub.add_argument("--function", help="only this function's executions")
        sub.add_argument("--store", metavar="PATH", help="read this SQLite file directly")
        sub.add_argument("--endpoint-url", default=DEFAULT_ENDPOINT, help=ENDPOINT)

    callback = commands.add_parser("callback", help="complete a callback of a served backend")
    callback.add_argument("action", choices=("succeed", "fail", "heartbeat"), help="what to send")
    callback.add_argument(
        "callback_id", metavar="CALLBACK_ID", help="the id 'aiodurable run' or the UI shows"
    )
    callback.add_argument(
        "payload",
        nargs="?",
        help="succeed: the result as JSON (a text needs quotes: '\"yes\"'); fail: the message",
    )
    callback.add_argument("--error-type", help="fail: the ErrorType")
    callback.add_argument("--endpoint-url", default=DEFAULT_ENDPOINT, help=ENDPOINT)

    for name, help_text in (
        ("pause", "pause an execution of a served backend: nothing invokes it until resumed"),
        ("resume", "resume a paused execution of a served backend"),
        ("delete", "delete a finished execution of a served backend, and all it stored"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("arn", metavar="ARN", help="the execution's ARN (see `executions`)")
        if name != "delete":
            sub.add_argument("--reason", help="recorded in the execution's history")
        if name == "pause":
            sub.add_argument(
                "--keep-timeout-running",
                action="store_true",
                help="let the execution timeout run on while paused (default: it stops)",
            )
        sub.add_argument("--endpoint-url", default=DEFAULT_ENDPOINT, help=ENDPOINT)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aiodurable`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except BaseException as raised:
        # Errors from inside a task group arrive wrapped; what matters is the one inside.
        exc = _innermost(raised)
        if isinstance(exc, CliError):
            print(f"aiodurable: {exc}", file=sys.stderr)
            return exc.status
        if isinstance(exc, BrokenPipeError):
            # The reader went away (`| head`): stop quietly, as a pipeline expects, and
            # send what is still buffered nowhere instead of failing again at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 141
        if isinstance(exc, KeyboardInterrupt):
            return 130
        raise


def _check_port(args: argparse.Namespace) -> None:
    for option in ("port", "serve"):
        port = getattr(args, option, None)
        if port is not None and not 0 <= port <= 65535:
            raise CliError(f"--{option} {port} is not a TCP port: use 1 to 65535, or 0 for any")


def _dispatch(args: argparse.Namespace) -> int:
    _check_port(args)
    if args.command in ("run", "serve"):
        _require_cli_extra(args.command)
        from aiodurable.cli.interrupts import Interrupts
        from aiodurable.cli.local_commands import run_command, serve_command

        # Stopping `serve` with a signal is its normal end; stopping `run` is not.
        interrupts = Interrupts(exit_status=130 if args.command == "run" else 0)
        local = run_command if args.command == "run" else serve_command
        status = asyncio.run(local(args, interrupts))
        interrupts.exit_if_interrupted()
        return status
    from aiodurable.cli import remote_commands

    command = {
        "executions": remote_commands.executions_command,
        "history": remote_commands.history_command,
        "callback": remote_commands.callback_command,
        "pause": remote_commands.pause_command,
        "resume": remote_commands.resume_command,
        "delete": remote_commands.delete_command,
    }[args.command]
    return command(args)


def _require_cli_extra(command: str) -> None:
    missing = [name for name in CLI_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise CliError(
            f"`aiodurable {command}` needs {', '.join(missing)}, which is not installed:"
            " pip install 'aiodurable[cli]' (or, from a checkout, pip install '.[cli]')"
        )


def _innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
