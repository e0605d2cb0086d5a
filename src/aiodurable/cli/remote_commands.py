"""``executions``, ``history``, ``callback``, ``pause``, ``resume`` and ``delete``: read a
store, or talk to ``serve`` over HTTP."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiodurable.cli.lambda_model import lambda_session
from aiodurable.cli.targets import CliError
from aiodurable.local import SqliteStore
from aiodurable.local.encoding import to_api_json
from aiodurable.local.records import public_status
from aiodurable.local.store import ExecutionQuery
from aiodurable.wire.callback_names import event_user_name

__all__ = [
    "callback_command",
    "delete_command",
    "executions_command",
    "history_command",
    "lambda_client",
    "pause_command",
    "resume_command",
]


def lambda_client(endpoint_url: str) -> Any:
    """A botocore Lambda client for the local backend (credentials are not checked)."""
    from botocore.config import Config  # type: ignore[import-untyped]  # loaded when needed

    session = lambda_session()
    return session.create_client(
        "lambda",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        # A local server either answers or is not there: say so at once, not after retries.
        config=Config(retries={"total_max_attempts": 1}),
    )


def _call(operation: Any, **params: Any) -> Any:
    from botocore.exceptions import (  # type: ignore[import-untyped]
        ClientError,
        EndpointConnectionError,
    )

    try:
        return operation(**params)
    except EndpointConnectionError as exc:
        raise CliError(f"{exc}. Is 'aiodurable serve' running there?") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CliError(f"{error.get('Code')}: {error.get('Message')}") from exc


def _when(value: Any) -> str:
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, UTC)
    return value.isoformat(timespec="milliseconds") if isinstance(value, datetime) else ""


def _existing_store(path: str) -> SqliteStore:
    """The store at ``path`` for reading: a missing file or one that is not a store is a
    usage error, checked read-only first so that a mistyped path creates nothing and a
    foreign SQLite file is left untouched."""
    if not os.path.isfile(path):
        raise CliError(f"no store at {path}: give the file passed to 'run/serve --store'")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise CliError(f"{path} is not an aiodurable store ({exc})") from exc
    if "executions" not in tables:
        raise CliError(f"{path} is not an aiodurable store (it has no executions table)")
    return SqliteStore(path)


def executions_command(args: argparse.Namespace) -> int:
    if args.store:
        store = _existing_store(args.store)
        query = ExecutionQuery(function_name=args.function)
        rows, marker = [], None
        while True:  # page by page: the file may hold far more than fits in memory
            records, marker = store.list_executions(query, marker=marker, limit=1000)
            rows += [(r.arn, public_status(r).value, r.start_timestamp) for r in records]
            if marker is None:
                break
        store.close()
    else:
        client = lambda_client(args.endpoint_url)
        functions = (
            [args.function]
            if args.function
            else [f["FunctionName"] for f in _call(client.list_functions).get("Functions", [])]
        )
        rows = []
        for function in functions:
            listed = _call(client.list_durable_executions_by_function, FunctionName=function)
            rows += [
                (e["DurableExecutionArn"], e["Status"], e["StartTimestamp"])
                for e in listed.get("DurableExecutions", [])
            ]
    for arn, status, started in rows:
        print(f"{_when(started):<30} {status:<10} {arn}")
    if not rows:
        print(f"no executions of {args.function}" if args.function else "no executions")
    return 0


def history_command(args: argparse.Namespace) -> int:
    if args.store:
        store = _existing_store(args.store)
        found = store.load_execution(args.arn)
        store.close()
        if found is None:
            raise CliError(f"no execution {args.arn} in {args.store}")
        events: list[dict[str, Any]] = to_api_json(found.events)
    else:
        client = lambda_client(args.endpoint_url)
        events, marker = [], None
        while True:
            page = _call(
                client.get_durable_execution_history,
                DurableExecutionArn=args.arn,
                IncludeExecutionData=True,
                **({"Marker": marker} if marker else {}),
            )
            events += page.get("Events", [])
            marker = page.get("NextMarker")
            if not marker:
                break
    if args.json:
        json.dump(events, sys.stdout, indent=2, default=_when)
        print()
        return 0
    for event in events:
        print(format_event(event))
    return 0


def format_event(event: dict[str, Any]) -> str:
    """One line: id, time, type, operation, and the detail worth seeing."""
    name = event_user_name(event["EventType"], event.get("Name")) or (event.get("Id") or "")[:12]
    details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("Details")), {}) or {}
    summary = ""
    for key in ("Result", "Error", "Input", "Reason"):
        container = details.get(key)
        if isinstance(container, dict) and "Payload" in container:
            summary = json.dumps(container["Payload"])
    if "Duration" in details:
        summary = f"{details['Duration']}s " + summary
    retry = details.get("RetryDetails")
    if retry:
        summary = f"attempt {retry.get('CurrentAttempt')} " + summary
    if "CallbackId" in details:
        summary = f"callback id {details['CallbackId']}"
    return (
        f"{event['EventId']:>4}  {_when(event.get('EventTimestamp')):<30} "
        f"{event['EventType']:<22} {name:<24} {summary}"
    ).rstrip()


def callback_command(args: argparse.Namespace) -> int:
    if args.action == "succeed" and args.payload:
        # The workflow decodes the result as JSON: a bare word sent now would fail it later.
        try:
            json.loads(args.payload)
        except ValueError as exc:
            raise CliError(
                f"the result {args.payload!r} is not JSON ({exc}); nothing was sent. "
                f"A text needs quotes: aiodurable callback succeed {args.callback_id} "
                f"'{json.dumps(args.payload)}'"
            ) from None
    client = lambda_client(args.endpoint_url)
    if args.action == "succeed":
        payload = args.payload if args.payload is not None else ""
        _call(
            client.send_durable_execution_callback_success,
            CallbackId=args.callback_id,
            Result=payload.encode(),
        )
    elif args.action == "fail":
        error = {"ErrorMessage": args.payload or "failed from the command line"}
        if args.error_type:
            error["ErrorType"] = args.error_type
        _call(
            client.send_durable_execution_callback_failure, CallbackId=args.callback_id, Error=error
        )
    else:
        _call(client.send_durable_execution_callback_heartbeat, CallbackId=args.callback_id)
    print(f"callback {args.callback_id}: {args.action} sent")
    return 0


def pause_command(args: argparse.Namespace) -> int:
    client = lambda_client(args.endpoint_url)
    _call(
        client.pause_durable_execution,
        DurableExecutionArn=args.arn,
        ExecutionTimeoutPaused=not args.keep_timeout_running,
        **({"Reason": args.reason} if args.reason is not None else {}),
    )
    return _print_status(client, args.arn)


def resume_command(args: argparse.Namespace) -> int:
    client = lambda_client(args.endpoint_url)
    _call(
        client.resume_durable_execution,
        DurableExecutionArn=args.arn,
        **({"Reason": args.reason} if args.reason is not None else {}),
    )
    # No status read back: a resumed execution may finish (and `run --serve` exit) at once.
    print(f"resumed {args.arn}")
    return 0


def delete_command(args: argparse.Namespace) -> int:
    client = lambda_client(args.endpoint_url)
    _call(client.delete_durable_execution, DurableExecutionArn=args.arn)
    print(f"deleted {args.arn}")
    return 0


def _print_status(client: Any, arn: str) -> int:
    status = _call(client.get_durable_execution, DurableExecutionArn=arn)["Status"]
    print(f"{status:<10} {arn}")
    return 0
