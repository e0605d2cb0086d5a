"""The user-function hooks around a run of user code: a start, then exactly one end with
the outcome; a run cut short by the invocation's suspension ends ``INCOMPLETE``."""

from __future__ import annotations

from typing import Any

from aiodurable import DurableContext, Plugin, RetryStrategy, durable_execution
from aiodurable.plugins import UserFunctionEndInfo, UserFunctionStartInfo

from .service_harness import ServiceHarness, drive


class Runs(Plugin):
    def __init__(self) -> None:
        self.records: list[tuple[str, str | None, str | None]] = []

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        self.records.append(("start", info.name, None))

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        message = info.error.error_message if info.error else None
        self.records.append((f"end {info.outcome}", info.name, message))


async def test_a_suspended_run_ends_incomplete_and_a_failed_one_reports_its_error() -> None:
    runs = Runs()

    def refuse() -> str:
        raise LookupError("no such thing")

    @durable_execution(plugins=[runs])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        async def group(child: DurableContext) -> str:
            await child.wait(5, name="pause")  # suspends: the run is cut short
            return "grouped"

        grouped = await ctx.run_in_child_context(group, name="group")
        try:
            await ctx.step(refuse, name="refuse", retry=RetryStrategy(max_attempts=1))
        except Exception as exc:  # the step's failure reaches the workflow
            return f"{grouped}, then {type(exc).__name__}"
        return grouped

    service = ServiceHarness()
    arn = service.start()
    outputs = await drive(workflow, service, arn)
    assert [o["Status"] for o in outputs] == ["PENDING", "SUCCEEDED"]
    assert outputs[-1]["Result"] == '"grouped, then StepError"'
    assert runs.records == [
        ("start", "group", None),  # first invocation: suspended
        ("end INCOMPLETE", "group", None),
        ("start", "group", None),  # second: the context runs to its end
        ("end SUCCEEDED", "group", None),
        ("start", "refuse", None),
        ("end FAILED", "refuse", "no such thing"),
    ]
