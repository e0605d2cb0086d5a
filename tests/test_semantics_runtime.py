"""Misuses that must fail loudly at the first invocation rather than end in a wrong outcome."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aiodurable import DurableContext, LoggingConfig, OperationInStepError, durable_execution
from aiodurable.testing import LocalRunner


# -- a durable operation inside a step body ------------------------------------------------
@durable_execution
async def waits_inside_a_step(event: object, ctx: DurableContext) -> str:
    async def body() -> str:
        await ctx.wait(timedelta(seconds=5), name="inner-wait")
        return "done"

    return await ctx.step(body, name="outer")


@durable_execution
async def steps_inside_a_sync_step(event: object, ctx: DurableContext) -> str:
    def body() -> str:
        ctx.step(lambda: 1, name="inner-step").close()
        return "done"

    return await ctx.step(body, name="outer")


async def test_a_durable_operation_inside_a_step_fails_the_first_invocation() -> None:
    async with LocalRunner(waits_inside_a_step) as runner:
        run = await runner.run({})

    assert run.status == "FAILED"
    assert run.invocations == 1
    assert run.error is not None
    assert run.error.error_type == "aiodurable.errors.OperationInStepError"
    message = run.error.error_message or ""
    assert "'inner-wait'" in message and "'outer'" in message
    assert "run_in_child_context" in message
    # Not retried as a step failure, and the inner operation never reached the history.
    assert "inner-wait" not in [op.name for op in run.operations]


async def test_a_durable_operation_inside_a_sync_step_is_rejected_too() -> None:
    async with LocalRunner(steps_inside_a_sync_step) as runner:
        run = await runner.run({})

    assert run.status == "FAILED"
    assert run.error is not None
    assert run.error.error_type == "aiodurable.errors.OperationInStepError"
    assert "'inner-step'" in (run.error.error_message or "")


@durable_execution
async def swallows_the_misuse(event: object, ctx: DurableContext) -> str:
    async def body() -> str:
        try:
            await ctx.step(lambda: 1, name="nested")
        except Exception:  # a body that catches everything
            return "carried on"
        return "nested ran"

    return await ctx.step(body, name="outer")


async def test_a_step_body_that_catches_the_misuse_does_not_make_the_step_succeed() -> None:
    async with LocalRunner(swallows_the_misuse) as runner:
        run = await runner.run({})

    assert run.status == "FAILED", run.result
    assert run.error is not None
    assert run.error.error_type == "aiodurable.errors.OperationInStepError"
    assert "'nested'" in (run.error.error_message or "")
    # The step recorded no success (nothing at all: the invocation failed before its
    # START was sent), and the nested operation never reached the history.
    assert not [op for op in run.operations if op.status == "SUCCEEDED"]
    assert "nested" not in [op.name for op in run.operations]


def test_the_error_is_a_validation_error_users_can_import() -> None:
    from aiodurable import ValidationError

    assert issubclass(OperationInStepError, ValidationError)


# -- a swallowed suspension ----------------------------------------------------------------
@durable_execution
async def swallows_the_suspension(event: object, ctx: DurableContext) -> str:
    with contextlib.suppress(asyncio.CancelledError):
        await ctx.wait(timedelta(hours=1), name="cool-off")
    return "too early"


async def test_a_workflow_that_swallows_its_suspension_never_succeeds_early() -> None:
    async with LocalRunner(swallows_the_suspension) as runner:
        started = runner.now()
        run = await runner.run({})

    # The invocation that suspended ends PENDING whatever the coroutine returned; the
    # execution completes only after the wait, from the invocation that replays it.
    assert run.operation("cool-off").status == "SUCCEEDED"
    assert runner.now() - started >= timedelta(hours=1)
    assert run.invocations == 2
    assert run.status == "SUCCEEDED"


@durable_execution
async def swallows_then_raises(event: object, ctx: DurableContext) -> str:
    try:
        await ctx.wait(timedelta(minutes=10), name="pause")
    except asyncio.CancelledError:
        raise ValueError("not a real failure: the wait was still pending") from None
    return "after the pause"


async def test_a_workflow_that_turns_its_suspension_into_an_error_does_not_fail() -> None:
    async with LocalRunner(swallows_then_raises) as runner:
        run = await runner.run({})

    assert run.operation("pause").status == "SUCCEEDED"
    assert run.status == "SUCCEEDED"
    assert run.result == "after the pause"


# -- str() of an operation error -----------------------------------------------------------
def test_str_of_an_operation_error_is_its_message_alone() -> None:
    from aiodurable import StepError
    from aiodurable.wire import ErrorObject

    error = StepError.from_error_object(
        ErrorObject(error_type="payments.CardDeclined", error_message="Submitter failed")
    )
    assert str(error) == "Submitter failed"
    assert error.error_type == "payments.CardDeclined"


# -- nothing user-made kept forever --------------------------------------------------------
_step_refs: list[weakref.ref[Any]] = []


@durable_execution
async def steps_with_closures(event: object, ctx: DurableContext) -> int:
    total = 0
    for i in range(3):

        async def body(i: int = i) -> int:
            return i

        def sync_body(i: int = i) -> int:
            return i

        _step_refs.extend((weakref.ref(body), weakref.ref(sync_body)))
        total += await ctx.step(body, name="async") + await ctx.step(sync_body, name="sync")
    return total


async def test_step_functions_are_not_retained_after_the_invocation() -> None:
    _step_refs.clear()
    async with LocalRunner(steps_with_closures) as runner:
        run = await runner.run({})
    assert run.result == 6
    del run, runner
    gc.collect()
    assert len(_step_refs) == 6
    assert [ref() for ref in _step_refs] == [None] * 6


# -- is_replaying() is the truth whatever the logging configuration ------------------------
_replay_seen: list[bool] = []


async def _records_replay(event: object, ctx: DurableContext) -> str:
    _replay_seen.append(ctx.is_replaying())
    await ctx.wait(timedelta(seconds=30), name="pause")
    return "done"


@pytest.mark.parametrize("log_during_replay", [False, True])
async def test_is_replaying_reports_replay_whatever_the_logging_config(
    log_during_replay: bool,
) -> None:
    _replay_seen.clear()
    handler = durable_execution(
        _records_replay, logging=LoggingConfig(log_during_replay=log_during_replay)
    )
    async with LocalRunner(handler) as runner:
        run = await runner.run({})

    assert run.status == "SUCCEEDED"
    assert _replay_seen == [False, True]  # first invocation new, the second replays


ROOT = Path(__file__).resolve().parents[1]


# -- a failed step records where it failed -------------------------------------------------
def _parse_amount(text: str) -> int:
    return int(text)


@durable_execution
async def fails_in_user_code(event: object, ctx: DurableContext) -> int:
    return await ctx.step(lambda: _parse_amount("twelve"), name="parse")


async def test_a_failed_step_records_the_traceback_of_user_code() -> None:
    async with LocalRunner(fails_in_user_code) as runner:
        run = await runner.run({})
    assert run.status == "FAILED"
    error = run.step("parse").error
    assert error is not None and error.stack_trace is not None
    assert error.stack_trace[-1] == "ValueError: invalid literal for int() with base 10: 'twelve'"
    assert any("_parse_amount" in line for line in error.stack_trace)
    # Files are named from their import root: no checkout or install path leaves.
    files = [line for line in error.stack_trace if line.startswith('  File "')]
    assert '  File "tests/test_semantics_runtime.py", line' in "\n".join(files)
    assert not any(str(ROOT) in line or "site-packages" in line for line in error.stack_trace)
    assert any(line.startswith('  File "aiodurable/') for line in files)


def test_a_long_traceback_keeps_its_innermost_frames() -> None:
    from aiodurable.errors import error_object_from_exception

    def chain(depth: int) -> None:  # each link adds distinct lines to the traceback
        if depth == 0:
            raise ValueError("outermost cause")
        try:
            chain(depth - 1)
        except Exception as exc:
            raise KeyError(f"link {depth}") from exc

    try:
        chain(300)
    except KeyError as exc:
        error = error_object_from_exception(exc)
    assert error.stack_trace is not None
    assert error.stack_trace[0] == "… (outer frames truncated)"
    assert error.stack_trace[-1] == "KeyError: 'link 300'"
    assert sum(len(line) for line in error.stack_trace) <= 12_100
