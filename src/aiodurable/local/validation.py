"""Checks the service applies to a checkpoint request (docs/protocol.md §2.2, §2.4, §2.5, §2.8).

:func:`validate_updates` accepts or rejects a whole request before anything is applied;
a rejection is the service's ``InvalidParameterValueException`` (HTTP 400), which the
runtime treats as terminal for the execution. Sizes are measured as
:mod:`aiodurable.limits` says, the same for a request made in-process and over HTTP:
a payload by the UTF-8 bytes of its text, a request by the bytes of its JSON body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import msgspec

from aiodurable.errors import CheckpointError
from aiodurable.limits import (
    MAX_ASYNC_INPUT_BYTES,
    MAX_CALLBACK_RESULT_BYTES,
    MAX_INVOKE_PAYLOAD_BYTES,
    MAX_REQUEST_BYTES,
    MAX_SYNC_INPUT_BYTES,
    payload_bytes,
    payload_limit,
    payload_limit_message,
)
from aiodurable.local.errors import InvalidParameterError, invalid_checkpoint
from aiodurable.wire import (
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

__all__ = [
    "MAX_CALLBACK_TIMEOUT",
    "MAX_DELAY_SECONDS",
    "MAX_ERROR_CHARS",
    "MAX_INVOKE_PAYLOAD_BYTES",
    "MAX_PAYLOAD_CHARS",
    "RequestTooLargeError",
    "check_callback_result",
    "check_execution_input",
    "parse_count",
    "parse_function_name",
    "validate_updates",
]

#: The API model's limit for any payload string (checked before the service's own).
MAX_PAYLOAD_CHARS = 6_291_456
MAX_ERROR_CHARS = 32_768
MAX_DELAY_SECONDS = 31_622_400
MAX_CALLBACK_TIMEOUT = 99_999_999

_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_NAME = re.compile(r"[\x20-\x7e]{1,256}")
_SUB_TYPE = re.compile(r"[a-zA-Z0-9_-]{1,32}")
_TENANT = re.compile(r"[a-zA-Z0-9._:/=+\-@ ]{1,256}")
_FUNCTION = re.compile(
    r"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_-]+))?"
)

_AFTER = {
    OperationAction.START: OperationStatus.STARTED,
    OperationAction.SUCCEED: OperationStatus.SUCCEEDED,
    OperationAction.FAIL: OperationStatus.FAILED,
    OperationAction.RETRY: OperationStatus.PENDING,
    OperationAction.CANCEL: OperationStatus.CANCELLED,
}
_ALLOWED = {
    OperationType.EXECUTION: {OperationAction.SUCCEED, OperationAction.FAIL},
    OperationType.CONTEXT: {OperationAction.START, OperationAction.SUCCEED, OperationAction.FAIL},
    OperationType.STEP: {
        OperationAction.START,
        OperationAction.SUCCEED,
        OperationAction.FAIL,
        OperationAction.RETRY,
    },
    OperationType.WAIT: {OperationAction.START, OperationAction.CANCEL},
    OperationType.CALLBACK: {OperationAction.START},
    OperationType.CHAINED_INVOKE: {OperationAction.START},
}


class RequestTooLargeError(InvalidParameterError):
    """A request or an execution input over Lambda's size limit (413)."""

    code = "RequestTooLargeException"
    status_code = 413


def _too_large_message(size: int, limit: int, operation: str) -> str:
    return f"Request must be smaller than {limit} bytes for the {operation} operation (got {size})."


def check_execution_input(payload: str | None, *, asynchronous: bool = True) -> None:
    """Refuse an execution input Lambda would not accept for this kind of invoke.

    ``asynchronous``: an ``Event`` invoke (256 KB); ``False`` for ``RequestResponse`` (6 MB).
    """
    if payload is None:
        return
    limit = MAX_ASYNC_INPUT_BYTES if asynchronous else MAX_SYNC_INPUT_BYTES
    size = payload_bytes(payload)
    if size > limit:
        raise RequestTooLargeError(
            _too_large_message(size, limit, "Invoke")
            + " Pass a reference to large input (an S3 key) instead of the data."
        )


def check_callback_result(result: bytes | str | None) -> None:
    """Refuse a ``SendDurableExecutionCallbackSuccess`` result over the API's 1 MB blob."""
    if result is None:
        return
    size = len(result) if isinstance(result, bytes) else payload_bytes(result)
    if size > MAX_CALLBACK_RESULT_BYTES:
        raise InvalidParameterError(
            f"a callback result must be at most {MAX_CALLBACK_RESULT_BYTES} bytes, got {size}"
        )


#: Upper bound of the JSON of one update's fields other than its payload and error.
_UPDATE_FIELDS_BYTES = 1024
#: JSON escaping writes a character as at most six bytes (``\u001f``).
_MAX_ESCAPED_BYTES_PER_CHAR = 6


def _check_request_size(updates: Sequence[OperationUpdate]) -> None:
    """Refuse a request whose JSON body would be over Lambda's request limit.

    The bound is computed from the string lengths first; only a request that might be
    too large is encoded to learn its exact size.
    """
    bound = 0
    for u in updates:
        bound += _UPDATE_FIELDS_BYTES
        if u.payload is not None:
            bound += _MAX_ESCAPED_BYTES_PER_CHAR * len(u.payload)
        if u.error is not None:
            bound += _MAX_ESCAPED_BYTES_PER_CHAR * sum(
                len(part or "")
                for part in (u.error.error_message, u.error.error_type, u.error.error_data)
            ) + sum(
                _MAX_ESCAPED_BYTES_PER_CHAR * len(line) + 3 for line in u.error.stack_trace or ()
            )
    if bound <= MAX_REQUEST_BYTES:
        return
    size = len(msgspec.json.encode(updates))
    if size > MAX_REQUEST_BYTES:
        raise CheckpointError(
            _too_large_message(size, MAX_REQUEST_BYTES, "CheckpointDurableExecution"),
            retryable=False,
            error_code=RequestTooLargeError.code,
            status_code=RequestTooLargeError.status_code,
        )


def parse_count(value: str) -> int | None:
    """A ``MaxItems`` / ``Marker`` query value as an int, or None if it is not one.

    Only ASCII digits count (``str.isdigit`` accepts "²", which ``int`` refuses), and at
    most 18 of them (``int`` refuses more than 4,300; no page is that long anyway).
    """
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    return int(value)


def parse_function_name(function_name: str, *, region: str, account: str) -> tuple[str, str | None]:
    """``(name, qualifier)`` of a function name, ``name:qualifier`` or (partial) ARN.

    Raises :class:`~aiodurable.errors.CheckpointError` for a malformed name or for a
    function in another account or region.
    """
    match = _FUNCTION.fullmatch(function_name) if len(function_name) <= 256 else None
    if match is None:
        raise invalid_checkpoint(
            f"FunctionName {function_name!r} is not a function name, name:qualifier or function ARN"
        )
    if match["region"] not in (None, region) or match["account"] not in (None, account):
        raise invalid_checkpoint(
            f"FunctionName {function_name!r} is in another account or region; a chained "
            f"invoke must target a function in {account} / {region}"
        )
    return match["name"], match["qualifier"]


def _check_fields(u: OperationUpdate, *, region: str, account: str) -> None:
    where = f"update of operation {u.id!r}"
    if not _ID.fullmatch(u.id):
        raise invalid_checkpoint(f"{where}: Id must be 1-64 characters of [a-zA-Z0-9_-]")
    if u.parent_id is not None and not _ID.fullmatch(u.parent_id):
        raise invalid_checkpoint(f"{where}: ParentId must be 1-64 characters of [a-zA-Z0-9_-]")
    if u.name is not None and not _NAME.fullmatch(u.name):
        raise invalid_checkpoint(f"{where}: Name must be 1-256 printable ASCII characters")
    if u.sub_type is not None and not _SUB_TYPE.fullmatch(u.sub_type):
        raise invalid_checkpoint(f"{where}: SubType must be 1-32 characters of [a-zA-Z0-9_-]")
    if u.payload is not None:
        if len(u.payload) > MAX_PAYLOAD_CHARS:
            raise invalid_checkpoint(
                f"{where}: Payload has {len(u.payload)} characters; the limit is "
                f"{MAX_PAYLOAD_CHARS}"
            )
        if payload_bytes(u.payload) > payload_limit(u.type):
            # The service's exact words: SDKs recognise the error by them.
            raise invalid_checkpoint(payload_limit_message(u.type))
    if u.error is not None:
        size = len(msgspec.json.encode(u.error).decode())
        if size > MAX_ERROR_CHARS:
            raise invalid_checkpoint(
                f"{where}: Error serializes to {size} characters; the limit is "
                f"{MAX_ERROR_CHARS}. Truncate the message and stack trace"
            )
    if u.step_options is not None:
        delay = u.step_options.next_attempt_delay_seconds
        if not 1 <= delay <= MAX_DELAY_SECONDS:
            raise invalid_checkpoint(
                f"{where}: NextAttemptDelaySeconds must be 1..{MAX_DELAY_SECONDS}, got {delay}"
            )
    if u.wait_options is not None:
        seconds = u.wait_options.wait_seconds
        if not 1 <= seconds <= MAX_DELAY_SECONDS:
            raise invalid_checkpoint(
                f"{where}: WaitSeconds must be 1..{MAX_DELAY_SECONDS}, got {seconds}"
            )
    if u.callback_options is not None:
        for label, value in (
            ("TimeoutSeconds", u.callback_options.timeout_seconds),
            ("HeartbeatTimeoutSeconds", u.callback_options.heartbeat_timeout_seconds),
        ):
            if not 0 <= value <= MAX_CALLBACK_TIMEOUT:
                raise invalid_checkpoint(
                    f"{where}: {label} must be 0..{MAX_CALLBACK_TIMEOUT}, got {value}"
                )
    options = u.chained_invoke_options
    if options is not None:
        parse_function_name(options.function_name, region=region, account=account)
        if options.tenant_id is not None and not _TENANT.fullmatch(options.tenant_id):
            raise invalid_checkpoint(f"{where}: TenantId {options.tenant_id!r} is invalid")


def _check_action(u: OperationUpdate, status: OperationStatus | None) -> None:
    kind, action = u.type.value, u.action.value
    if u.action not in _ALLOWED[u.type]:
        raise invalid_checkpoint(f"{action} is not a valid action for a {kind} operation")
    if u.action is OperationAction.SUCCEED and u.error is not None:
        raise invalid_checkpoint(f"{kind} SUCCEED of {u.id!r} must not carry an Error")
    if u.action is OperationAction.FAIL and u.payload is not None:
        raise invalid_checkpoint(f"{kind} FAIL of {u.id!r} must not carry a Payload")
    state = "absent" if status is None else status.value
    refused = invalid_checkpoint(f"cannot {action} {kind} operation {u.id!r}: it is {state}")
    if u.type is OperationType.CONTEXT:
        if u.action is OperationAction.START and status is not None:
            raise refused
        if u.action is not OperationAction.START and status not in (
            None,
            OperationStatus.STARTED,
        ):
            raise refused
    elif u.type is OperationType.STEP:
        if u.action is OperationAction.RETRY:
            if u.step_options is None:
                raise invalid_checkpoint(f"STEP RETRY of {u.id!r} requires StepOptions")
            if u.error is not None and u.payload is not None:
                raise invalid_checkpoint(
                    f"STEP RETRY of {u.id!r} carries both Error and Payload; send one"
                )
        if status is None:
            return
        if u.action is OperationAction.START:
            if status is not OperationStatus.READY:
                raise refused
        elif status not in (OperationStatus.STARTED, OperationStatus.READY):
            raise refused
    elif u.type is OperationType.WAIT:
        if u.action is OperationAction.START:
            if status is not None:
                raise refused
            if u.wait_options is None:
                raise invalid_checkpoint(f"WAIT START of {u.id!r} requires WaitOptions")
        elif status is not OperationStatus.STARTED:
            raise refused
    elif u.type in (OperationType.CALLBACK, OperationType.CHAINED_INVOKE):
        if status is not None:
            raise refused
        if u.type is OperationType.CHAINED_INVOKE and u.chained_invoke_options is None:
            raise invalid_checkpoint(
                f"CHAINED_INVOKE START of {u.id!r} requires ChainedInvokeOptions"
            )


def _check_consistent(u: OperationUpdate, known: Operation | OperationUpdate) -> None:
    differences = [
        f"{label} {old!r} != {new!r}"
        for label, old, new in (
            ("Type", known.type, u.type),
            ("SubType", known.sub_type, u.sub_type),
            ("Name", known.name, u.name),
            ("ParentId", known.parent_id, u.parent_id),
        )
        if new is not None and old != new
    ]
    if differences:
        raise invalid_checkpoint(
            f"Inconsistent operation {u.id!r}: {'; '.join(differences)}. Every update of an "
            "operation must repeat the Type, SubType, Name and ParentId of its START"
        )


def validate_updates(
    operations: Mapping[str, Operation],
    updates: Sequence[OperationUpdate],
    *,
    region: str,
    account: str,
) -> None:
    """Reject the request unless every update is valid in order (docs/protocol.md §2.4, §2.5)."""
    statuses: dict[str, OperationStatus | None] = {}
    known: dict[str, Operation | OperationUpdate] = {}
    seen: dict[str, list[OperationUpdate]] = {}
    for index, u in enumerate(updates):
        _check_fields(u, region=region, account=account)
        if u.type is OperationType.EXECUTION:
            if index != len(updates) - 1:
                raise invalid_checkpoint(
                    "an EXECUTION update must be the last update of the request"
                )
            _check_action(u, None)
            continue
        earlier = seen.setdefault(u.id, [])
        if earlier:
            first = earlier[0]
            if (
                len(earlier) > 1
                or first.action is not OperationAction.START
                or u.action is OperationAction.START
                or u.type not in (OperationType.STEP, OperationType.CONTEXT)
            ):
                raise invalid_checkpoint(
                    f"operation {u.id!r} appears more than once in the request; only a STEP "
                    "or CONTEXT may repeat, as START followed by another action"
                )
        earlier.append(u)
        stored = operations.get(u.id)
        reference = known.get(u.id, stored)
        if reference is not None:
            _check_consistent(u, reference)
        if u.parent_id is not None:
            parent = known.get(u.parent_id, operations.get(u.parent_id))
            if parent is None:
                raise invalid_checkpoint(
                    f"ParentId {u.parent_id!r} of operation {u.id!r} does not exist; start "
                    "the parent CONTEXT first"
                )
            if parent.type is not OperationType.CONTEXT:
                raise invalid_checkpoint(
                    f"ParentId {u.parent_id!r} of operation {u.id!r} is a {parent.type.value}; "
                    "a parent must be a CONTEXT"
                )
        status = statuses.get(u.id, stored.status if stored else None)
        _check_action(u, status)
        statuses[u.id] = _AFTER[u.action]
        if reference is None:
            known[u.id] = u
    _check_request_size(updates)
