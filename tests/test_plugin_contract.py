"""The official SDK 3.0.0 plugin contract: every user-function start is paired with exactly
one end (``INCOMPLETE`` when the code left without an outcome), plugins may be given as
per-invocation factories, and ``DURABLE_EXECUTION_PLUGINS`` enables installed ones."""

from __future__ import annotations

import logging
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python.plugin import (
    DurableInstrumentationPlugin as OfficialPlugin,
)

from aiodurable import (
    CompletionConfig,
    DurableContext,
    Plugin,
    PluginLoadError,
    durable_execution,
)
from aiodurable.plugins import (
    InvocationEndInfo,
    InvocationStartInfo,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
)
from aiodurable.testing import LocalRunner

from .service_harness import ServiceHarness, drive


class Pairs(Plugin):
    """Checks the pairing: no end without a start, no second end, none left open."""

    def __init__(self) -> None:
        self.open: Counter[tuple[str, int | None]] = Counter()
        self.ends: list[tuple[str | None, UserFunctionOutcome]] = []
        self.problems: list[str] = []

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        self.open[(info.operation_id, info.attempt)] += 1

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        key = (info.operation_id, info.attempt)
        if self.open[key] == 0:
            self.problems.append(f"end without a start: {info.name}")
        self.open[key] -= 1
        self.ends.append((info.name, info.outcome))


async def test_a_branch_abandoned_by_an_early_completion_ends_incomplete() -> None:
    pairs = Pairs()

    async def slow(ctx: DurableContext) -> str:
        await ctx.wait(3600, name="an hour")  # still waiting when the batch completes
        return await ctx.step(lambda: "late", name="late")

    async def fast(ctx: DurableContext) -> str:
        return await ctx.step(lambda: "fast", name="quick")

    @durable_execution(plugins=[pairs])
    async def first_wins(event: Any, ctx: DurableContext) -> list[Any]:
        result = await ctx.parallel([slow, fast], completion=CompletionConfig.first_successful())
        return result.get_results()

    async with LocalRunner(first_wins) as runner:
        result = await runner.run()

    assert result.status == "SUCCEEDED", result.error
    assert result.result == ["fast"]
    assert pairs.problems == []
    assert +pairs.open == Counter(), f"starts without an end: {+pairs.open}"
    outcomes = dict(pairs.ends)
    assert outcomes["quick"] is UserFunctionOutcome.SUCCEEDED
    assert outcomes["parallel-branch-1"] is UserFunctionOutcome.SUCCEEDED
    assert outcomes["parallel-branch-0"] is UserFunctionOutcome.INCOMPLETE  # orphaned
    assert "late" not in outcomes


async def test_every_start_has_one_end_across_suspensions_and_retries() -> None:
    pairs = Pairs()
    attempts = Counter[str]()

    def flaky() -> str:
        attempts["flaky"] += 1
        if attempts["flaky"] == 1:
            raise ValueError("first attempt fails")
        return "ok"

    @durable_execution(plugins=[pairs])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        async def group(child: DurableContext) -> str:
            await child.wait(5)
            return await child.step(flaky, name="flaky")

        return await ctx.run_in_child_context(group, name="group")

    service = ServiceHarness()
    outputs = await drive(workflow, service, service.start())
    assert outputs[-1]["Status"] == "SUCCEEDED"
    assert pairs.problems == [] and +pairs.open == Counter()
    assert pairs.ends == [
        ("group", UserFunctionOutcome.INCOMPLETE),  # suspended on the wait
        ("flaky", UserFunctionOutcome.FAILED),
        ("group", UserFunctionOutcome.INCOMPLETE),  # suspended for the retry
        ("flaky", UserFunctionOutcome.SUCCEEDED),
        ("group", UserFunctionOutcome.SUCCEEDED),
    ]


# -- factories: one plugin instance per invocation ------------------------------------------


class Audit(Plugin):
    def __init__(self, log: list[tuple[int, str]], serial: int) -> None:
        self.log, self.serial = log, serial
        self.start: InvocationStartInfo | None = None

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self.start = info
        self.log.append((self.serial, "start"))

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self.log.append((self.serial, f"end {info.status}"))


class AuditFactory:
    """The official SDK's factory shape: ``create_plugin(info)`` once per invocation."""

    def __init__(self) -> None:
        self.log: list[tuple[int, str]] = []
        self.plugins: list[Audit] = []
        self.infos: list[InvocationStartInfo] = []

    def create_plugin(self, info: InvocationStartInfo, /) -> Audit:
        self.infos.append(info)
        plugin = Audit(self.log, len(self.plugins))
        self.plugins.append(plugin)
        return plugin


class BrokenFactory:
    def create_plugin(self, info: InvocationStartInfo, /) -> Plugin | None:
        raise RuntimeError("exporter not configured")


async def test_a_factory_builds_one_plugin_per_invocation_and_a_failing_one_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    factory = AuditFactory()

    @durable_execution(plugins=[factory, BrokenFactory()])
    async def workflow(event: Any, ctx: DurableContext) -> str:
        await ctx.wait(60)
        return "done"

    service = ServiceHarness()
    with caplog.at_level(logging.WARNING, logger="aiodurable.plugins"):
        outputs = await drive(workflow, service, service.start())

    assert [o["Status"] for o in outputs] == ["PENDING", "SUCCEEDED"]
    assert len(factory.plugins) == 2  # two invocations, two instances
    assert factory.log == [(0, "start"), (0, "end PENDING"), (1, "start"), (1, "end SUCCEEDED")]
    # create_plugin gets the very info the instance's on_invocation_start then receives
    assert [p.start for p in factory.plugins] == factory.infos
    assert [info.is_first_invocation for info in factory.infos] == [True, False]
    assert "BrokenFactory failed" in caplog.text


# -- a plugin written for the official SDK ---------------------------------------------------


class OfficialStyle(OfficialPlugin):  # type: ignore[misc]
    """Subclasses the official SDK's base class and reads fields by name only."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def on_user_function_start(self, info: Any) -> None:
        self.lines.append(f"start {info.name} attempt={info.attempt}")

    def on_user_function_end(self, info: Any) -> None:
        self.lines.append(f"end {info.name} {info.outcome.value}")


class OfficialStyleFactory:
    def __init__(self) -> None:
        self.made: list[OfficialStyle] = []

    def create_plugin(self, info: Any, /) -> OfficialStyle:
        self.made.append(OfficialStyle())
        return self.made[-1]


async def test_an_official_sdk_plugin_and_factory_run_unchanged() -> None:
    factory = OfficialStyleFactory()

    @durable_execution(plugins=[factory])  # type: ignore[list-item]
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return await ctx.step(lambda: "x", name="only")

    async with LocalRunner(workflow) as runner:
        result = await runner.run()
    assert result.status == "SUCCEEDED"
    assert factory.made[0].lines == ["start only attempt=1", "end only SUCCEEDED"]


# -- DURABLE_EXECUTION_PLUGINS and entry points ----------------------------------------------


def install_plugin_package(root: Path, entry_points: str) -> None:
    """A real installed distribution (dist-info on sys.path) declaring entry points."""
    (root / "layer_audit.py").write_text(
        textwrap.dedent(
            """
            from aiodurable import Plugin

            EVENTS = []

            class LayerAudit(Plugin):
                def on_invocation_start(self, info):
                    EVENTS.append(("start", info.execution_arn))

            class Factory:
                def create_plugin(self, info, /):
                    return LayerAudit()

            factory = Factory()
            instance = LayerAudit()
            """
        )
    )
    dist = root / "layer_audit-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: layer-audit\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))


async def test_the_environment_enables_installed_plugins_by_entry_point_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin_package(
        tmp_path,
        """
        [aiodurable.plugins]
        layer-audit = layer_audit:factory

        [aws_durable_execution.plugins]
        official-audit = layer_audit:instance
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DURABLE_EXECUTION_PLUGINS", "layer-audit, official-audit")
    import layer_audit  # type: ignore[import-not-found]

    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> str:
        return "ok"

    async with LocalRunner(workflow) as runner:
        result = await runner.run()
    assert result.status == "SUCCEEDED"
    # one event from the factory's instance, one from the instance in the official group
    assert [("start", result.arn), ("start", result.arn)] == layer_audit.EVENTS


def test_a_misconfigured_environment_fails_when_the_handler_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin_package(tmp_path, "[aiodurable.plugins]\nnot-a-plugin = layer_audit:EVENTS\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    async def workflow(event: Any, ctx: DurableContext) -> str:
        return "ok"

    monkeypatch.setenv("DURABLE_EXECUTION_PLUGINS", "nowhere")
    with pytest.raises(PluginLoadError, match=r"'nowhere'.*Install the plugin package"):
        durable_execution(workflow)
    monkeypatch.setenv("DURABLE_EXECUTION_PLUGINS", "not-a-plugin")
    with pytest.raises(PluginLoadError, match="neither a plugin"):
        durable_execution(workflow)
    monkeypatch.setenv("DURABLE_EXECUTION_PLUGINS", "a,,b")
    with pytest.raises(PluginLoadError, match="empty name"):
        durable_execution(workflow)
    monkeypatch.delenv("DURABLE_EXECUTION_PLUGINS")
    with pytest.raises(PluginLoadError, match=r"pass an instance \(Audit\(\)\)"):
        durable_execution(plugins=[Audit])(workflow)  # type: ignore[list-item]
