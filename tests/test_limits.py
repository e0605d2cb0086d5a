"""The service's payload limits, as the local backend enforces them (PROTOCOL §2.8)."""

from __future__ import annotations

import pytest

from aiodurable.errors import CheckpointError, ResultTooLargeError
from aiodurable.limits import MAX_OPERATION_PAYLOAD_BYTES, payload_bytes
from aiodurable.local.validation import (
    RequestTooLargeError,
    check_execution_input,
    validate_updates,
)
from aiodurable.serdes import check_payload_size
from aiodurable.wire import OperationAction, OperationType, OperationUpdate


def step_succeed(payload: str, op_id: str = "s1") -> OperationUpdate:
    return OperationUpdate(
        id=op_id, type=OperationType.STEP, action=OperationAction.SUCCEED, payload=payload
    )


def validate(*updates: OperationUpdate) -> None:
    validate_updates({}, list(updates), region="us-east-1", account="123456789012")


def test_a_step_result_over_262144_bytes_gets_the_services_error() -> None:
    with pytest.raises(CheckpointError) as caught:
        validate(step_succeed("x" * (MAX_OPERATION_PAYLOAD_BYTES + 1)))

    assert caught.value.error_code == "InvalidParameterValueException"
    assert not caught.value.retryable
    assert str(caught.value) == (
        "STEP output payload size must be less than or equal to 262144 bytes."
    )


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    euro = "€" * (MAX_OPERATION_PAYLOAD_BYTES // 3 + 1)  # 3 bytes each
    validate(step_succeed("x" * MAX_OPERATION_PAYLOAD_BYTES))  # exactly the limit: accepted

    with pytest.raises(CheckpointError, match="STEP output payload size"):
        validate(step_succeed(euro))
    assert len(euro) < MAX_OPERATION_PAYLOAD_BYTES < payload_bytes(euro)


def test_json_escaping_counts_for_the_request_not_for_the_payload() -> None:
    quotes = '"' * (MAX_OPERATION_PAYLOAD_BYTES - 10)  # doubles when escaped
    # 25 such updates are ~6.5 MB of payload bytes but ~13 MB of JSON body.
    validate(step_succeed(quotes))
    with pytest.raises(CheckpointError) as caught:
        validate(*(step_succeed(quotes, f"s{i}") for i in range(25)))

    assert caught.value.error_code == "RequestTooLargeException"
    assert caught.value.status_code == 413
    assert "6291456 bytes for the CheckpointDurableExecution operation" in str(caught.value)


def test_a_context_result_has_the_same_limit_with_its_own_message() -> None:
    update = OperationUpdate(
        id="c1", type=OperationType.CONTEXT, action=OperationAction.SUCCEED, payload="x" * 300_000
    )
    with pytest.raises(CheckpointError, match=r"^CONTEXT output payload size must be less"):
        validate(update)


def test_execution_input_keeps_lambdas_invoke_limits() -> None:
    check_execution_input("x" * 262_144)
    check_execution_input("x" * 1_000_000, asynchronous=False)
    with pytest.raises(RequestTooLargeError, match="262144 bytes for the Invoke operation"):
        check_execution_input("x" * 262_145)
    with pytest.raises(RequestTooLargeError, match="6291456 bytes"):
        check_execution_input("x" * 6_291_457, asynchronous=False)


def test_the_runtime_check_gives_size_limit_operation_and_remedy() -> None:
    with pytest.raises(ResultTooLargeError) as caught:
        check_payload_size('"' + "x" * 300_000 + '"', "the result of step 'dump'")

    message = str(caught.value)
    assert "the result of step 'dump'" in message
    assert "300002 bytes" in message and "262144 bytes per STEP operation" in message
    assert "S3Serdes" in message and "FileSystemSerdes" in message
