"""A user's boto3 script, run with the python of ``.venv-boto3`` (boto3 >= 1.44).

It reads one JSON request a line on stdin and answers one JSON line on stdout, so a test
drives a long-lived client as a user's program would, without paying boto3's import per
call. Only the standard library and boto3 are used: aiodurable is not installed there.

    {"op": "pause_durable_execution", "params": {"DurableExecutionArn": "…"}}
    → {"response": {…}} or {"error": {"Code": "…", "Message": "…", "Status": 409}}

Two requests are about the model rather than the server: ``__model__`` answers the
botocore version and the Lambda durable-execution operations it models;
``__probe__`` calls every one of them with made-up parameters and answers the error code
each got (``null`` when it succeeded).

Usage: python boto3_client.py ENDPOINT_URL
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

#: Where the durable-execution API lives (its API version in the request path).
DURABLE_PATH = "/2025-12-01/"


def durable_operations(client: Any) -> list[str]:
    model = client.meta.service_model
    return sorted(
        name
        for name in model.operation_names
        if model.operation_model(name).http["requestUri"].startswith(DURABLE_PATH)
        or "DurableExecution" in name
    )


def made_up(shape: Any) -> Any:
    """A value botocore accepts for ``shape`` (required members only)."""
    kind = shape.type_name
    if kind == "structure":
        return {name: made_up(shape.members[name]) for name in shape.required_members}
    if kind == "list":
        return []
    if kind == "map":
        return {}
    if kind in ("integer", "long"):
        return int(shape.metadata.get("min", 1))
    if kind in ("float", "double"):
        return 1.0
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return datetime(2026, 1, 1, tzinfo=UTC)
    if kind == "blob":
        return b"null"
    if shape.enum:
        return shape.enum[0]
    return "x" * max(int(shape.metadata.get("min", 1)), 1)


def probe(client: Any) -> dict[str, str | None]:
    model = client.meta.service_model
    codes: dict[str, str | None] = {}
    for name in durable_operations(client):
        operation = model.operation_model(name)
        params = made_up(operation.input_shape) if operation.input_shape else {}
        try:
            getattr(client, botocore.xform_name(name))(**params)
            codes[name] = None
        except ClientError as exc:
            codes[name] = exc.response["Error"]["Code"]
    return codes


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode()
    if hasattr(value, "read"):
        return value.read().decode()
    raise TypeError(type(value))


def main() -> None:
    client = boto3.client(
        "lambda",
        endpoint_url=sys.argv[1],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )
    for line in sys.stdin:
        request = json.loads(line)
        op, params = request["op"], request.get("params", {})
        answer: dict[str, Any]
        if op == "__model__":
            answer = {
                "response": {
                    "botocore": botocore.__version__,
                    "boto3": boto3.__version__,
                    "operations": durable_operations(client),
                }
            }
        elif op == "__probe__":
            answer = {"response": probe(client)}
        else:
            try:
                response = getattr(client, op)(**params)
                response.pop("ResponseMetadata", None)
                answer = {"response": response}
            except ClientError as exc:
                answer = {
                    "error": {
                        "Code": exc.response["Error"]["Code"],
                        "Message": exc.response["Error"].get("Message", ""),
                        "Status": exc.response["ResponseMetadata"]["HTTPStatusCode"],
                    }
                }
        print(json.dumps(answer, default=_plain), flush=True)


if __name__ == "__main__":
    main()
