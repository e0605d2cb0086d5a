"""The pytest plugin's ``local_runner`` fixture makes runners and closes them."""

from __future__ import annotations

from typing import Any

from aiodurable.testing.pytest_plugin import RunnerFactory

from .workflows import approval


async def test_the_fixture_gives_a_runner_that_answers_callbacks(
    local_runner: RunnerFactory,
) -> None:
    runner = await local_runner(approval)
    runner.on_callback("approve", "ok")
    run = await runner.run({"order_id": "o-4"})

    assert run.succeeded
    assert run.result == 'o-4: "ok"'


async def test_runners_of_one_test_are_independent(local_runner: RunnerFactory) -> None:
    first: Any = await local_runner(approval)
    second: Any = await local_runner(approval, function_name="other")

    assert first.backend is not second.backend
    assert second.backend.function_names() == ["other"]
