"""boto3 1.44's pause, resume and delete against ``aiodurable serve``, as a user runs them.

Each test names the state transitions it drives; the SQLite variants kill the server
with SIGKILL in the middle (PAUSING and PAUSED) and carry on with a new one.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from . import Boto3User, ClientFailure, until

#: Appears in the execution's input only: nothing of it may remain after a delete.
SECRET = "order-5e1f0c7a-delete-me"


class Execution:
    """One execution, seen through boto3."""

    def __init__(self, user: Boto3User, arn: str) -> None:
        self.user, self.arn = user, arn

    def get(self, **params: Any) -> dict[str, Any]:
        return self.user.call("get_durable_execution", DurableExecutionArn=self.arn, **params)

    def status(self) -> str:
        return str(self.get()["Status"])

    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.user.call(
            "get_durable_execution_history", DurableExecutionArn=self.arn, MaxItems=1000
        )["Events"]
        return events

    def types(self) -> list[str]:
        return [e["EventType"] for e in self.events()]

    def invocations(self) -> int:
        return self.types().count("InvocationCompleted")

    def callback_id(self) -> str | None:
        for event in self.events():
            if event["EventType"] == "CallbackStarted":
                return str(event["CallbackStartedDetails"]["CallbackId"])
        return None

    def pause(self, **params: Any) -> dict[str, Any]:
        return self.user.call("pause_durable_execution", DurableExecutionArn=self.arn, **params)

    def resume(self, **params: Any) -> dict[str, Any]:
        return self.user.call("resume_durable_execution", DurableExecutionArn=self.arn, **params)

    def delete(self) -> dict[str, Any]:
        return self.user.call("delete_durable_execution", DurableExecutionArn=self.arn)


def start(user: Boto3User, order_id: str, *, hold: bool = False) -> Execution:
    response = user.call(
        "invoke",
        FunctionName="checkout",
        InvocationType="Event",
        Payload=json.dumps({"order_id": order_id, "hold": hold}),
    )
    return Execution(user, response["DurableExecutionArn"])


def conflict(call: Any, **params: Any) -> ClientFailure:
    with pytest.raises(ClientFailure) as raised:
        call(**params)
    assert (raised.value.code, raised.value.status) == ("ResourceConflictException", 409)
    return raised.value


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_pause_resume_delete_through_every_state(
    store: str, serve: Any, hold_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "local.db"
    store_args = ("--store", str(db)) if store == "sqlite" else ()
    served = serve(*store_args)
    user = Boto3User(served.endpoint_url)
    ex = start(user, SECRET, hold=True)
    until(lambda: (hold_dir / "entered").exists(), "the held step")

    # RUNNING (invocation in progress) -> PAUSING
    assert ex.pause(Reason="deploy", ClientToken="pause-1") == {}
    described = ex.get()
    assert described["Status"] == "PAUSING"
    assert described["PauseDetails"]["Reason"] == "deploy"
    assert described["PauseDetails"]["ExecutionTimeoutPaused"] is True
    assert ex.pause(Reason="deploy", ClientToken="pause-1") == {}  # a retry: same answer
    conflict(ex.pause, Reason="deploy", ClientToken="pause-2")  # a new request: conflict

    # PAUSING -> PAUSED at the invocation's next checkpoint (stored, answered without a
    # token): the invocation ends PENDING and nothing after that checkpoint ran.
    (hold_dir / "release").touch()
    until(lambda: ex.status() == "PAUSED", "PAUSED")
    until(lambda: ex.invocations() == 1, "the invocation to end")
    types = ex.types()
    # The step's start (or its end, if that came first) was the checkpoint that paused.
    assert types.index("StepStarted") < types.index("ExecutionPaused")
    assert "CallbackStarted" not in types
    [completed] = [e for e in ex.events() if e["EventType"] == "InvocationCompleted"]
    assert "Error" not in completed["InvocationCompletedDetails"]
    described = ex.get()
    started_at = datetime.fromisoformat(described["StartTimestamp"])
    expected = datetime.fromisoformat(described["ExpectedExecutionTimeoutTimestamp"])
    assert expected - started_at == timedelta(days=366)

    # PAUSED -> RUNNING: the owed invocation runs (the callback starts)
    assert ex.resume(Reason="deployed") == {}
    until(ex.callback_id, "the callback to start")
    assert "PauseDetails" not in ex.get()
    conflict(ex.resume)
    until(lambda: ex.invocations() == 2, "the second invocation to end")
    resumed = [e for e in ex.events() if e["EventType"] == "ExecutionResumed"]
    assert resumed[0]["ExecutionResumedDetails"]["Reason"]["Payload"] == "deployed"

    # RUNNING (idle) -> PAUSED at once; a callback still completes while paused
    ex.pause()
    assert ex.status() == "PAUSED"
    callback_id = ex.callback_id()
    user.call("send_durable_execution_callback_success", CallbackId=callback_id, Result='"yes"')
    until(lambda: "CallbackSucceeded" in ex.types(), "the callback to complete")
    assert ex.status() == "PAUSED"
    assert ex.invocations() == 2  # nothing invoked while paused
    listed = user.call(
        "list_durable_executions_by_function", FunctionName="checkout", Statuses=["PAUSED"]
    )
    assert [e["DurableExecutionArn"] for e in listed["DurableExecutions"]] == [ex.arn]

    if store == "sqlite":  # PAUSED survives SIGKILL
        served.kill()
        user.close()
        served = serve(*store_args)
        user = Boto3User(served.endpoint_url)
        ex = Execution(user, ex.arn)
        described = ex.get()
        assert described["Status"] == "PAUSED"
        expected = datetime.fromisoformat(described["ExpectedExecutionTimeoutTimestamp"])
        assert expected - started_at == timedelta(days=366)  # the timeout is still paused
        assert ex.invocations() == 2

    # PAUSED -> RUNNING -> SUCCEEDED: resume invokes, since an operation completed
    ex.resume()
    until(lambda: ex.status() == "SUCCEEDED", "SUCCEEDED")
    assert json.loads(ex.get()["Result"]) == f"{SECRET} held: yes"
    conflict(ex.pause)
    conflict(ex.resume)

    # SUCCEEDED -> deleted: gone from every route, and from the file
    answer = ex.delete()
    assert datetime.fromisoformat(answer["DeletionRequestTimestamp"])
    for call in (ex.get, ex.delete, ex.pause, ex.resume, ex.events):
        with pytest.raises(ClientFailure) as raised:
            call()
        assert (raised.value.code, raised.value.status) == ("ResourceNotFoundException", 404)
    listed = user.call("list_durable_executions_by_function", FunctionName="checkout")
    assert listed["DurableExecutions"] == []
    if store == "sqlite":
        for part in db.parent.glob(db.name + "*"):
            assert SECRET.encode() not in part.read_bytes(), part
    user.close()


def test_a_pausing_execution_killed_with_sigkill_comes_back_paused(
    serve: Any, hold_dir: Path, tmp_path: Path
) -> None:
    store_args = ("--store", str(tmp_path / "local.db"))
    served = serve(*store_args)
    user = Boto3User(served.endpoint_url)
    ex = start(user, "o-2", hold=True)
    until(lambda: (hold_dir / "entered").exists(), "the held step")
    ex.pause(ExecutionTimeoutPaused=False)
    assert ex.status() == "PAUSING"

    # PAUSING --SIGKILL--> PAUSED: the interrupted invocation is over, none is started
    served.kill()
    user.close()
    (hold_dir / "entered").unlink()
    (hold_dir / "release").touch()
    served = serve(*store_args)
    user = Boto3User(served.endpoint_url)
    ex = Execution(user, ex.arn)
    described = ex.get()
    assert described["Status"] == "PAUSED"
    assert described["PauseDetails"]["ExecutionTimeoutPaused"] is False
    [completed] = [e for e in ex.events() if e["EventType"] == "InvocationCompleted"]
    assert completed["InvocationCompletedDetails"]["Error"]["Payload"]["ErrorType"] == (
        "Runtime.ExitError"
    )
    assert ex.types()[-1] == "ExecutionPaused"
    assert not (hold_dir / "entered").exists()

    # PAUSED -> RUNNING: the interrupted invocation is owed, so resume invokes
    ex.resume()
    callback_id = until(ex.callback_id, "the callback to start")
    assert (hold_dir / "entered").exists()  # the step ran again
    user.call("send_durable_execution_callback_success", CallbackId=callback_id, Result='"ok"')
    until(lambda: ex.status() == "SUCCEEDED", "SUCCEEDED")
    user.close()


def test_wrong_states_unknown_executions_and_hidden_reasons(serve: Any) -> None:
    served = serve()
    user = Boto3User(served.endpoint_url)
    ex = start(user, "o-3")
    callback_id = until(ex.callback_id, "the callback to start")
    until(lambda: ex.invocations() == 1, "the invocation to end")

    conflict(ex.resume)  # RUNNING: nothing to resume
    failure = conflict(ex.delete)  # RUNNING: not deletable
    assert "stop it first" in failure.message

    ex.pause(Reason="audit", ExecutionTimeoutPaused=False)
    hidden = ex.get(IncludeExecutionData=False)
    assert hidden["ExecutionDataIncluded"] is False
    assert "Reason" not in hidden["PauseDetails"]
    assert ex.get()["ExecutionDataIncluded"] is True
    assert ex.get()["DurableConfig"]["ExecutionTimeout"] > 0
    # The timeout keeps running: the expected timeout is the original one.
    described = ex.get()
    started_at = datetime.fromisoformat(described["StartTimestamp"])
    expected = datetime.fromisoformat(described["ExpectedExecutionTimeoutTimestamp"])
    assert expected - started_at == timedelta(
        seconds=described["DurableConfig"]["ExecutionTimeout"]
    )
    events = user.call(
        "get_durable_execution_history", DurableExecutionArn=ex.arn, IncludeExecutionData=False
    )["Events"]
    [paused] = [e for e in events if e["EventType"] == "ExecutionPaused"]
    assert paused["ExecutionPausedDetails"]["Reason"] == {"Truncated": True}
    ex.resume(ClientToken="tok-1")
    with pytest.raises(ClientFailure) as raised:  # the token again, for another request
        ex.resume(ClientToken="tok-1", Reason="changed")
    assert raised.value.code == "InvalidParameterValueException"

    # PAUSED -> STOPPED: a paused execution can be stopped, then deleted
    ex.pause()
    user.call("stop_durable_execution", DurableExecutionArn=ex.arn)
    assert ex.status() == "STOPPED"
    assert "PauseDetails" not in ex.get()
    assert "ExpectedExecutionTimeoutTimestamp" not in ex.get()
    with pytest.raises(ClientFailure) as raised:
        user.call("send_durable_execution_callback_success", CallbackId=callback_id, Result="1")
    ex.delete()

    unknown = Execution(user, ex.arn.rsplit("/", 1)[0] + "/0123456789abcdef")
    for call in (unknown.pause, unknown.resume, unknown.delete, unknown.get):
        with pytest.raises(ClientFailure) as raised:
            call()
        assert raised.value.code == "ResourceNotFoundException"
    user.close()
