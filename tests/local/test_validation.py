"""The backend refuses what the service refuses, with the service's error codes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aiodurable.errors import CheckpointError
from aiodurable.local import LocalBackend, VirtualClock
from aiodurable.wire import (
    CallbackOptions,
    ChainedInvokeOptions,
    ErrorObject,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepOptions,
    WaitOptions,
)

from .held import HeldTarget, Invocation

STEP, CONTEXT, WAIT = OperationType.STEP, OperationType.CONTEXT, OperationType.WAIT
START, SUCCEED, FAIL, RETRY = (
    OperationAction.START,
    OperationAction.SUCCEED,
    OperationAction.FAIL,
    OperationAction.RETRY,
)


@pytest.fixture
async def invocation() -> AsyncIterator[tuple[LocalBackend, Invocation]]:
    target = HeldTarget()
    async with LocalBackend(clock=VirtualClock(), functions={"held": target}) as backend:
        backend.start_execution("held", "{}")
        invocation = await target.next()
        yield backend, invocation
        invocation.finish({"Status": "SUCCEEDED", "Result": "null"})


def update(
    op_id: str, type_: OperationType, action: OperationAction, **fields: object
) -> OperationUpdate:
    return OperationUpdate(id=op_id, type=type_, action=action, **fields)  # type: ignore[arg-type]


async def rejected(
    backend: LocalBackend, invocation: Invocation, *updates: OperationUpdate
) -> CheckpointError:
    with pytest.raises(CheckpointError) as caught:
        await backend.checkpoint(invocation.arn, invocation.token, list(updates))
    error = caught.value
    assert error.error_code == "InvalidParameterValueException"
    assert error.status_code == 400
    return error


async def test_the_event_carries_the_execution_operation_with_millisecond_timestamps(
    invocation: tuple[LocalBackend, Invocation],
) -> None:
    backend, inv = invocation
    (execution,) = inv.operations
    assert execution["Type"] == "EXECUTION"
    assert execution["Id"] == inv.arn.rsplit("/", 1)[-1]
    assert execution["ExecutionDetails"] == {"InputPayload": "{}"}
    assert isinstance(execution["StartTimestamp"], int)
    assert execution["StartTimestamp"] == round(backend.clock.now().timestamp() * 1000)


async def test_a_token_is_good_for_one_checkpoint_and_a_stale_one_is_retryable(
    invocation: tuple[LocalBackend, Invocation],
) -> None:
    backend, inv = invocation
    response = await backend.checkpoint(inv.arn, inv.token, [])
    assert response.checkpoint_token and response.checkpoint_token != inv.token

    with pytest.raises(CheckpointError) as caught:
        await backend.checkpoint(inv.arn, inv.token, [])
    assert str(caught.value).startswith("Invalid checkpoint token")
    assert caught.value.retryable
    assert caught.value.error_code == "InvalidParameterValueException"


async def test_a_token_of_another_execution_is_refused(
    invocation: tuple[LocalBackend, Invocation],
) -> None:
    backend, inv = invocation
    other = HeldTarget()
    backend.register("other", other)
    backend.start_execution("other", "{}")
    foreign = await other.next()
    with pytest.raises(CheckpointError, match="Invalid checkpoint token: the token belongs to"):
        await backend.checkpoint(inv.arn, foreign.token, [])
    foreign.finish({"Status": "SUCCEEDED", "Result": "1"})


async def test_a_step_start_then_succeed_in_one_request_is_applied_in_order(
    invocation: tuple[LocalBackend, Invocation],
) -> None:
    backend, inv = invocation
    response = await backend.checkpoint(
        inv.arn,
        inv.token,
        [
            update("s1", STEP, START, name="reserve", sub_type="Step"),
            update("s1", STEP, SUCCEED, name="reserve", sub_type="Step", payload='"held"'),
        ],
    )
    (op,) = response.new_execution_state.operations
    assert op.status is OperationStatus.SUCCEEDED
    assert op.step_details is not None and op.step_details.attempt == 1
    assert op.step_details.result == '"held"'


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ([update("w", WAIT, SUCCEED)], "SUCCEED is not a valid action for a WAIT"),
        ([update("w", WAIT, START)], "requires WaitOptions"),
        ([update("w", WAIT, START, wait_options=WaitOptions(wait_seconds=0))], "WaitSeconds"),
        ([update("s", STEP, RETRY)], "requires StepOptions"),
        (
            [
                update(
                    "s",
                    STEP,
                    RETRY,
                    step_options=StepOptions(next_attempt_delay_seconds=1),
                    payload="1",
                    error=ErrorObject(error_type="E"),
                )
            ],
            "both Error and Payload",
        ),
        ([update("s", STEP, SUCCEED, error=ErrorObject())], "must not carry an Error"),
        ([update("s", STEP, FAIL, payload="1")], "must not carry a Payload"),
        ([update("s", STEP, START), update("s", STEP, START)], "more than once"),
        (
            [update("w", WAIT, START, wait_options=WaitOptions(wait_seconds=5))] * 2,
            "more than once",
        ),
        ([update("s", STEP, START, parent_id="nope")], "ParentId 'nope'"),
        (
            [update("s", STEP, START), update("t", STEP, START, parent_id="s")],
            "a parent must be a CONTEXT",
        ),
        ([update("s", STEP, START, name="caf\u00e9")], "printable ASCII"),
        ([update("s", STEP, START, sub_type="has space")], "SubType"),
        ([update("bad id!", STEP, START)], "Id must be"),
        ([update("s", STEP, SUCCEED, payload="x" * 6_291_457)], "Payload has"),
        ([update("s", STEP, FAIL, error=ErrorObject(error_message="x" * 40_000))], "32768"),
        (
            [
                update("x", OperationType.EXECUTION, SUCCEED, payload="1"),
                update("s", STEP, START),
            ],
            "must be the last update",
        ),
        ([update("c", OperationType.CALLBACK, SUCCEED)], "not a valid action for a CALLBACK"),
        (
            [
                update(
                    "c",
                    OperationType.CALLBACK,
                    START,
                    callback_options=CallbackOptions(
                        timeout_seconds=-1, heartbeat_timeout_seconds=0
                    ),
                )
            ],
            "TimeoutSeconds",
        ),
        ([update("i", OperationType.CHAINED_INVOKE, START)], "requires ChainedInvokeOptions"),
        (
            [
                update(
                    "i",
                    OperationType.CHAINED_INVOKE,
                    START,
                    chained_invoke_options=ChainedInvokeOptions(
                        function_name="arn:aws:lambda:eu-west-1:123456789012:function:f"
                    ),
                )
            ],
            "another account or region",
        ),
        (
            [
                update(
                    "i",
                    OperationType.CHAINED_INVOKE,
                    START,
                    payload="x" * 1_048_577,
                    chained_invoke_options=ChainedInvokeOptions(function_name="f"),
                )
            ],
            "1048576 bytes",
        ),
    ],
)
async def test_invalid_requests_are_refused_whole(
    invocation: tuple[LocalBackend, Invocation], updates: list[OperationUpdate], message: str
) -> None:
    backend, inv = invocation
    error = await rejected(backend, inv, *updates)
    assert message in str(error)
    assert not error.retryable
    assert [op.type for op in backend.operations(inv.arn)] == [OperationType.EXECUTION]


async def test_actions_must_fit_the_stored_state(
    invocation: tuple[LocalBackend, Invocation],
) -> None:
    backend, inv = invocation
    token = inv.token
    for updates in (
        [update("ctx", CONTEXT, START, sub_type="RunInChildContext")],
        [update("ctx", CONTEXT, SUCCEED, sub_type="RunInChildContext", payload="1")],
        [update("s", STEP, START)],
        [update("w", WAIT, START, wait_options=WaitOptions(wait_seconds=60))],
    ):
        response = await backend.checkpoint(inv.arn, token, updates)
        assert response.checkpoint_token is not None
        token = response.checkpoint_token

    inv.event["CheckpointToken"] = token
    assert "it is SUCCEEDED" in str(
        await rejected(backend, inv, update("ctx", CONTEXT, FAIL, error=ErrorObject()))
    )
    assert "cannot START STEP operation 's': it is STARTED" in str(
        await rejected(backend, inv, update("s", STEP, START))
    )
    assert "cannot START WAIT" in str(
        await rejected(
            backend, inv, update("w", WAIT, START, wait_options=WaitOptions(wait_seconds=5))
        )
    )
    assert "Inconsistent operation 's'" in str(
        await rejected(backend, inv, update("s", STEP, SUCCEED, name="renamed"))
    )
    assert "Inconsistent operation 's'" in str(
        await rejected(backend, inv, update("s", WAIT, OperationAction.CANCEL))
    )


async def test_a_child_of_a_context_started_in_the_same_request_is_accepted(
    invocation: tuple[LocalBackend, Invocation],
) -> None:
    backend, inv = invocation
    response = await backend.checkpoint(
        inv.arn,
        inv.token,
        [
            update("ctx", CONTEXT, START, sub_type="RunInChildContext"),
            update("s", STEP, START, parent_id="ctx"),
        ],
    )
    assert {op.id: op.parent_id for op in response.new_execution_state.operations} == {
        "ctx": None,
        "s": "ctx",
    }


async def test_state_is_paged_with_the_current_token(
    invocation: tuple[LocalBackend, Invocation],
) -> None:
    backend, inv = invocation
    updates = [update(f"s{i}", STEP, START) for i in range(5)]
    token = (await backend.checkpoint(inv.arn, inv.token, updates)).checkpoint_token
    assert token is not None

    first = await backend.get_state(inv.arn, token, marker="", max_items=4)
    second = await backend.get_state(inv.arn, token, marker=first.next_marker or "", max_items=4)
    assert len(first.operations) == 4 and first.next_marker
    assert second.next_marker is None
    ids = [op.id for op in first.operations + second.operations]
    assert ids == [inv.arn.rsplit("/", 1)[-1], "s0", "s1", "s2", "s3", "s4"]

    with pytest.raises(CheckpointError, match="Invalid checkpoint token"):
        await backend.get_state(inv.arn, inv.token, marker="", max_items=4)


async def test_a_repeated_client_token_returns_the_first_answer(
    invocation: tuple[LocalBackend, Invocation],
) -> None:
    backend, inv = invocation
    updates = [update("s", STEP, START)]
    first = await backend.checkpoint(inv.arn, inv.token, updates, client_token="req-1")
    again = await backend.checkpoint(inv.arn, inv.token, updates, client_token="req-1")
    assert again == first


async def test_an_execution_update_completes_the_execution_and_withholds_the_token(
    invocation: tuple[LocalBackend, Invocation],
) -> None:
    backend, inv = invocation
    response = await backend.checkpoint(
        inv.arn,
        inv.token,
        [update("execution-result-1", OperationType.EXECUTION, SUCCEED, payload='"big"')],
    )
    assert response.checkpoint_token is None
    info = backend.describe(inv.arn)
    assert info.status == "SUCCEEDED" and info.result == '"big"'
