"""The ``aiodurable`` command: run workflows locally, serve the local backend, inspect.

aiodurable run examples.fan_out:handler --input '{"count": 200}'
aiodurable run app.workflows:order --input '{"order_id": "o-1"}' --clock virtual
aiodurable serve app.workflows:order --store .aiodurable/local.db
aiodurable executions
aiodurable history ARN
aiodurable callback succeed CALLBACK_ID '"approved"'
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
from collections.abc import Sequence

from aiodurable.cli.targets import CliError
from aiodurable.local.http import DEFAULT_HOST, DEFAULT_PORT

__all__ = ["main"]

#: What ``run`` and ``serve`` need beyond the runtime (the ``cli`` extra; a Lambda
#: package leaves it out).
CLI_EXTRA = ("rich",)

DEFAULT_ENDPOINT = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
ALLOW = "another name this server may be reached by (Host header); repeatable"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiodurable", description="Durable functions on the embedded local backend."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a workflow to its end, with a live view")
    run.add_argument("target", metavar="MODULE:HANDLER")
    run.add_argument("--input", help="the execution input, as JSON")
    run.add_argument("--name", help="execution name (idempotent: an existing one resumes)")
    run.add_argument("--store", metavar="PATH", help="SQLite file (default: in memory)")
    run.add_argument("--clock", choices=("real", "virtual"), default="real")
    run.add_argument("--function-name", help="the handler's function name")
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
    run.add_argument("--host", default=DEFAULT_HOST)
    run.add_argument("--allow-host", action="append", default=[], metavar="NAME", help=ALLOW)

    serve = commands.add_parser("serve", help="serve the local backend on Lambda's REST routes")
    serve.add_argument("targets", nargs="*", metavar="[NAME=]MODULE:HANDLER")
    serve.add_argument("--function", action="append", default=[], metavar="[NAME=]MODULE:ATTR")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME", help=ALLOW)
    serve.add_argument("--store", metavar="PATH", help="SQLite file (default: in memory)")
    serve.add_argument("--clock", choices=("real", "virtual"), default="real")
    serve.add_argument("--no-ui", action="store_true", help="do not serve the web UI at /ui/")

    for name, help_text in (
        ("executions", "list executions"),
        ("history", "print an execution's history"),
    ):
        sub = commands.add_parser(name, help=help_text)
        if name == "history":
            sub.add_argument("arn", metavar="ARN")
            sub.add_argument("--json", action="store_true", help="print the events as JSON")
        else:
            sub.add_argument("--function", help="only this function's executions")
        sub.add_argument("--store", metavar="PATH", help="read this SQLite file directly")
        sub.add_argument("--endpoint-url", default=DEFAULT_ENDPOINT)

    callback = commands.add_parser("callback", help="complete a callback of a served backend")
    callback.add_argument("action", choices=("succeed", "fail", "heartbeat"))
    callback.add_argument("callback_id", metavar="CALLBACK_ID")
    callback.add_argument(
        "payload", nargs="?", help="succeed: the result (sent verbatim); fail: the message"
    )
    callback.add_argument("--error-type", help="fail: the ErrorType")
    callback.add_argument("--endpoint-url", default=DEFAULT_ENDPOINT)
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


def _dispatch(args: argparse.Namespace) -> int:
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
