"""The examples do what their docstrings promise, on the local backend with virtual time."""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from examples import agent_loop, aiohttp_service, fan_out, human_approval, saga

from aiodurable.local import LocalBackend, VirtualClock
from aiodurable.testing import LocalRunner

ROOT = Path(__file__).resolve().parent.parent
SAM_TEMPLATE = ROOT / "examples" / "sam" / "template.yaml"
OWN_EXAMPLES = [
    "examples/__init__.py",
    "examples/agent_loop.py",
    "examples/aiohttp_service.py",
    "examples/fan_out.py",
    "examples/human_approval.py",
    "examples/saga.py",
    "examples/tracing.py",
]


# -- human approval ----------------------------------------------------------------------
async def test_a_small_claim_is_approved_without_asking_anyone() -> None:
    async with LocalRunner(human_approval.handler) as runner:
        run = await runner.run({"claim_id": "c-1", "employee": "sam", "amount": 40})

    assert run.result == human_approval.Outcome("c-1", "auto-approved")
    assert [op.name for op in run.operations] == ["record"]


async def test_a_large_claim_waits_for_the_manager_and_records_the_decision() -> None:
    async with LocalRunner(human_approval.handler) as runner:
        run = await runner.start({"claim_id": "c-2", "employee": "sam", "amount": 1200})
        callback = await run.callback_started("manager-approval")
        assert run.status == "RUNNING"
        run.complete_callback(
            callback.name or "", {"approved": False, "reviewer": "ana", "comment": "no receipt"}
        )
        result = await run.wait()

    assert result.result == human_approval.Outcome("c-2", "rejected", "ana")
    assert result.step("manager-approval submitter").status == "SUCCEEDED"


async def test_an_unanswered_claim_is_escalated_after_three_days() -> None:
    async with LocalRunner(human_approval.handler) as runner:
        started = runner.now()
        run = await runner.run({"claim_id": "c-3", "employee": "sam", "amount": 1200})

    assert run.result == human_approval.Outcome("c-3", "escalated")
    assert runner.now() - started >= human_approval.APPROVAL_TIMEOUT


# -- fan-out -----------------------------------------------------------------------------
async def test_fan_out_scores_a_thousand_documents_and_tolerates_the_corrupt_ones() -> None:
    async with LocalRunner(fan_out.handler) as runner:
        run = await runner.run({"count": 1000, "max_concurrency": 50, "corrupt_every": 97})

    report = run.result
    assert report is not None
    corrupt = [f"doc-{n:04d}" for n in range(96, 1000, 97)]
    assert report.failed == corrupt
    assert report.scored == 1000 - len(corrupt)
    assert report.completion_reason == "ALL_COMPLETED"
    assert len(report.top) == 3
    # Corrupt documents are not retried: they fail on their first attempt.
    assert run.step("score").attempts == 1


async def test_fan_out_stops_once_failures_exceed_five_percent() -> None:
    async with LocalRunner(fan_out.handler) as runner:
        run = await runner.run({"count": 200, "max_concurrency": 10, "corrupt_every": 5})

    report = run.result
    assert report is not None
    assert report.completion_reason == "FAILURE_TOLERANCE_EXCEEDED"
    # 5 % of 200 is 10 failures: the eleventh ends the map before every item ran
    # (failures of branches already in flight may still be counted).
    assert len(report.failed) > 10
    assert report.scored + len(report.failed) < 200


# -- saga --------------------------------------------------------------------------------
async def test_saga_ships_when_nothing_fails_and_unlocks_the_cart() -> None:
    async with LocalRunner(saga.handler) as runner:
        run = await runner.run({"order_id": "o-1", "amount": 40})

    assert run.result == saga.Outcome("o-1", "shipped", "TRACK-o-1")
    assert run.invocations == 2  # the warehouse wait suspended the saga: nothing undone
    assert [op.name for op in run.operations] == [
        "reserve_stock",
        "charge_card",
        "warehouse-opens",
        "ship",
        "checkout",
        "unlock_cart",
    ]


async def test_saga_undoes_what_succeeded_newest_first_when_a_step_fails() -> None:
    async with LocalRunner(saga.handler, replay_check=True) as runner:
        run = await runner.run({"order_id": "o-2", "amount": 40, "fail_at": "ship"})

    assert run.result == saga.Outcome("o-2", "rolled-back", error="ship refused for o-2")
    assert run.step("ship").attempts == 1
    actions = [op for op in run.operations if op.parent_id == run.operation("checkout").id]
    assert [(op.name, op.result) for op in actions] == [
        ("refund", '"refunded 40 on CH-o-2"'),
        ("release_stock", '"released HOLD-o-2"'),
        ("unlock_cart", '"cart of o-2 unlocked"'),
    ]


async def test_saga_that_fails_at_its_first_step_has_nothing_to_undo() -> None:
    async with LocalRunner(saga.handler) as runner:
        run = await runner.run({"order_id": "o-3", "amount": 40, "fail_at": "reserve"})

    assert run.result == saga.Outcome("o-3", "rolled-back", error="reserve refused for o-3")
    assert [op.name for op in run.operations] == ["reserve_stock", "checkout", "unlock_cart"]


# -- agent loop --------------------------------------------------------------------------
async def test_agent_calls_tools_until_the_model_answers() -> None:
    async with LocalRunner(agent_loop.handler, replay_check=True) as runner:
        run = await runner.run({"question": "Cycle today?"})

    assert run.result is not None
    assert run.result.turns == 3
    assert run.result.answer.startswith("Yes, cycle: weather: 22 C")
    assert [op.name for op in run.operations] == [
        "model-turn-1",
        "tool-1",
        "model-turn-2",
        "tool-2",
        "model-turn-3",
    ]


async def test_agent_replays_model_replies_as_typed_values_without_calling_the_model() -> None:
    calls: list[int] = []
    original = agent_loop.call_model

    async def counting(messages: list[agent_loop.Message]) -> agent_loop.ModelReply:
        calls.append(len(messages))
        return await original(messages)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(agent_loop, "call_model", counting)
        # replay_check ends the invocation after each checkpoint: every turn is replayed.
        async with LocalRunner(agent_loop.handler, replay_check=True) as runner:
            run = await runner.run({"question": "Cycle today?"})

    assert run.succeeded
    assert run.invocations > 3
    assert calls == [1, 2, 3]


# -- embedding in aiohttp ----------------------------------------------------------------
async def test_the_aiohttp_service_runs_invocations_on_its_own_loop() -> None:
    backend = LocalBackend(clock=VirtualClock())
    async with backend:
        app = aiohttp_service.create_app(service=backend)
        async with TestClient(TestServer(app)) as http:

            async def over_http(
                event: object, lambda_context: object = None, **_: object
            ) -> object:
                response = await http.post("/invoke/signup", json=event)
                assert response.status == 200
                return await response.json()

            class ViaHttp:
                run = staticmethod(over_http)

            backend.register("signup", ViaHttp())
            info = backend.start_execution("signup", '{"user": "ana"}')
            info = await backend.wait_for_completion(info.arn)

    assert info.status == "SUCCEEDED"
    assert info.result == '["welcome-ana","tips-ana"]'


async def test_the_aiohttp_service_rejects_what_is_not_an_invocation() -> None:
    async with LocalBackend() as backend:
        app = aiohttp_service.create_app(service=backend)
        async with TestClient(TestServer(app)) as http:
            bad = await http.post("/invoke/signup", json={"user": "ana"})
            bad_text = await bad.text()
            missing = await http.post("/invoke/nope", json={})

    assert bad.status == 400
    assert "not a durable execution invocation" in bad_text
    assert missing.status == 404


async def test_the_aiohttp_workflow_waits_a_day_between_emails() -> None:
    async with LocalRunner(aiohttp_service.handler) as runner:
        started = runner.now()
        run = await runner.run({"user": "bo"})

    assert run.result == ["welcome-bo", "tips-bo"]
    assert runner.now() - started >= timedelta(days=1)


# -- the commands in the docstrings ----------------------------------------------------
def documented_command(module: str) -> list[str]:
    """The ``aiodurable run ...`` command an example's docstring tells readers to type."""
    doc = importlib.import_module(f"examples.{module}").__doc__ or ""
    found = re.search(r"^\s*(aiodurable run .*)$", doc.replace("\\\n", " "), re.M)
    assert found, f"examples/{module}.py does not document its aiodurable run command"
    return shlex.split(found.group(1))


@pytest.mark.slow
@pytest.mark.parametrize(
    "module", ["human_approval", "fan_out", "saga", "agent_loop", "aiohttp_service"]
)
def test_the_documented_cli_command_runs_the_example_to_success(module: str) -> None:
    command = documented_command(module)
    assert command[:3] == ["aiodurable", "run", f"examples.{module}:handler"]
    # As written: a reader pastes it, and an example that waits must say --clock virtual
    # (the timeout keeps a real-clock wait of a day from passing unnoticed).
    completed = subprocess.run(
        [sys.executable, "-m", "aiodurable.cli", *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "SUCCEEDED after" in completed.stdout


# -- hygiene -----------------------------------------------------------------------------
#: Typing gaps of the public API, reported to their owners; each entry goes once fixed.
KNOWN_TYPING_GAPS: tuple[str, ...] = ()


def mypy_errors(*paths: str) -> list[str]:
    """mypy --strict errors for ``paths`` (relative to the repository), known gaps left out."""
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    lines = [line for line in mypy.stdout.splitlines() if ": error:" in line]
    assert mypy.returncode == 0 or lines, mypy.stdout + mypy.stderr
    return [line for line in lines if not any(gap in line for gap in KNOWN_TYPING_GAPS)]


@pytest.mark.slow
def test_examples_type_check_strictly() -> None:
    assert mypy_errors(*OWN_EXAMPLES) == []


# -- deployment (examples/sam) -----------------------------------------------------------
def sam_function() -> dict[str, Any]:
    from cfnlint.decode import decode

    template, problems = decode(str(SAM_TEMPLATE))
    assert problems == []
    assert template is not None
    function: dict[str, Any] = template["Resources"]["ApprovalFunction"]
    return function


def lint(path: Path) -> list[str]:
    from cfnlint.api import lint_file

    return [str(match) for match in lint_file(path)]


def test_the_sam_template_passes_cfn_lint() -> None:
    assert lint(SAM_TEMPLATE) == []


def test_the_sam_function_is_durable_with_the_managed_policy_on_a_python_312_runtime() -> None:
    function = sam_function()
    properties = function["Properties"]

    assert function["Type"] == "AWS::Serverless::Function"
    assert properties["Runtime"] in {"python3.12", "python3.13", "python3.14"}
    assert properties["Handler"] == "examples.human_approval.handler"
    assert properties["AutoPublishAlias"]  # durable functions need a qualified ARN
    assert set(properties["DurableConfig"]) == {"ExecutionTimeout", "RetentionPeriodInDays"}
    assert properties["DurableConfig"]["ExecutionTimeout"] > human_approval.APPROVAL_TIMEOUT / (
        timedelta(seconds=1)
    )
    assert (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicDurableExecutionRolePolicy"
        in properties["Policies"]
    )


def lambda_twin(tmp_path: Path, **durable_config: Any) -> Path:
    """The SAM function's runtime and DurableConfig as a plain AWS::Lambda::Function."""
    properties = sam_function()["Properties"]
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": properties["Runtime"],
                    "Handler": properties["Handler"],
                    "Role": "arn:aws:iam::123456789012:role/durable",
                    "Code": {"S3Bucket": "bucket", "S3Key": "lambda.zip"},
                    "Timeout": properties["Timeout"],
                    "DurableConfig": {**properties["DurableConfig"], **durable_config},
                },
            }
        },
    }
    path = tmp_path / "twin.json"
    path.write_text(json.dumps(template))
    return path


def test_the_durable_config_values_are_valid_for_lambda(tmp_path: Path) -> None:
    # cfn-lint 1.58 checks the property *names* of an AWS::Serverless::Function against
    # the SAM schema (DurableConfig included) but not the values nested in it; the same
    # values on an AWS::Lambda::Function are checked against Lambda's own schema.
    assert lint(lambda_twin(tmp_path)) == []
    assert any("E3034" in problem for problem in lint(lambda_twin(tmp_path, ExecutionTimeout=0)))
