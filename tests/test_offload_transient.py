"""A store that cannot be read for now ends the invocation (the execution only if it stays
unreadable through the retries of failed invocations); a value gone for good fails it."""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]

from aiodurable import DurableContext, PayloadUnavailableError, durable_execution
from aiodurable.local import EventType, VirtualClock
from aiodurable.offload import FileSystemSerdes, S3Serdes
from aiodurable.serdes import SerdesContext, from_checkpoint
from aiodurable.testing import LocalRunner

from .test_offload import suspended
from .test_plugins import Recorder

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/0f1e"


class FailingDisk:
    """``Path.read_bytes`` under ``root`` fails with EIO ``failures`` times, then reads."""

    def __init__(self, root: Path, failures: int) -> None:
        self.root = root
        self.failures = failures
        self.reads = 0

    def wrap(self, read_bytes: Callable[[Path], bytes]) -> Callable[[Path], bytes]:
        def read(path: Path) -> bytes:
            if path.is_relative_to(self.root):
                self.reads += 1
                if self.failures > 0:
                    self.failures -= 1
                    raise OSError(errno.EIO, "Input/output error", str(path))
            return read_bytes(path)

        return read


@pytest.fixture
def failing_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FailingDisk:
    disk = FailingDisk(tmp_path, failures=0)
    monkeypatch.setattr(Path, "read_bytes", disk.wrap(Path.read_bytes))
    return disk


def reporting(
    serdes: FileSystemSerdes, built: list[str], *plugins: Any, swallow: bool = True
) -> Any:
    @durable_execution(plugins=list(plugins))
    async def workflow(event: Any, ctx: DurableContext) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            built.append("build")
            return {"month": "2026-11", "rows": ["r" * 100] * 50}

        try:
            report = await ctx.step(build, name="build", serdes=serdes)
        except Exception:  # a workflow that swallows errors must not take another path
            if not swallow:
                raise
            return {"diverted": True}
        await ctx.wait(60, name="settle")
        return {"rows": len(report["rows"])}

    return workflow


async def test_a_transient_read_error_on_replay_fails_only_that_invocation(
    tmp_path: Path, failing_disk: FailingDisk
) -> None:
    built: list[str] = []
    recorder = Recorder()
    failing_disk.failures = 1  # the first replay's read fails; the next one works

    async with LocalRunner(reporting(FileSystemSerdes(tmp_path), built, recorder)) as runner:
        result = await runner.run()

    assert result.status == "SUCCEEDED"
    assert result.result == {"rows": 50}
    assert built == ["build"]  # the stored value was read again, not rebuilt
    assert failing_disk.reads >= 2
    errors = [
        e.invocation_completed_details.error
        for e in result.events(EventType.INVOCATION_COMPLETED)
        if e.invocation_completed_details is not None
    ]
    assert [e is not None for e in errors] == [False, True, False]
    failed = errors[1]
    assert failed is not None and failed.payload is not None
    assert failed.payload.error_type == "aiodurable.errors.PayloadUnavailableError"
    assert "Input/output error" in (failed.payload.error_message or "")
    ends = [r[1] for r in recorder.records if r[0] == "invocation-end"]
    assert ends == ["PENDING", "RETRY", "SUCCEEDED"]


async def test_a_deleted_file_still_fails_the_execution_naming_it(tmp_path: Path) -> None:
    built: list[str] = []
    workflow = reporting(FileSystemSerdes(tmp_path), built, swallow=False)

    async with LocalRunner(workflow, clock=VirtualClock(auto_advance=False)) as runner:
        run = await runner.start()
        await suspended(runner, run.arn)
        path = json.loads(run.step("build").result or "")["file"]
        Path(path).unlink()  # noqa: ASYNC240
        runner.advance(60)
        result = await run.wait()

    assert result.status == "FAILED"
    assert result.error is not None
    assert result.error.error_type == "aiodurable.offload.envelope.OffloadedPayloadMissingError"
    assert path in (result.error.error_message or "")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_s3_endpoint_is_unavailable_not_missing() -> None:
    context = SerdesContext(operation_id="3f2a", durable_execution_arn=ARN)
    envelope = json.dumps({"s3": {"bucket": "payloads", "key": "runs/3f2a.json"}, "size": 9})
    unreachable = S3Serdes(
        "payloads",
        client_options={
            "region_name": "us-east-1",
            "endpoint_url": f"http://127.0.0.1:{_closed_port()}",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "config": AioConfig(retries={"total_max_attempts": 1}, connect_timeout=1),
        },
    )
    async with unreachable:
        with pytest.raises(PayloadUnavailableError, match=r"s3://payloads/runs/3f2a\.json"):
            await from_checkpoint(unreachable, envelope, context)


class Flaky:
    """A custom serdes whose store times out."""

    def serialize(self, value: Any, context: SerdesContext) -> str:
        return json.dumps(value)

    async def deserialize(self, text: str, context: SerdesContext) -> Any:
        raise TimeoutError("the store did not answer in 5 s")


async def test_a_timeout_of_a_custom_serdes_counts_as_unavailable() -> None:
    context = SerdesContext(operation_id="3f2a", durable_execution_arn=ARN)
    with pytest.raises(PayloadUnavailableError, match="operation 3f2a"):
        await from_checkpoint(Flaky(), "1", context)


async def test_an_outage_that_outlasts_the_services_retries_fails_the_execution_as_documented(
    tmp_path: Path, failing_disk: FailingDisk
) -> None:
    built: list[str] = []
    failing_disk.failures = 1_000  # the mount never comes back

    workflow = reporting(FileSystemSerdes(tmp_path), built)
    async with LocalRunner(workflow, max_invocation_attempts=3) as runner:
        result = await runner.run()

    assert result.status == "FAILED"  # not diverted: the workflow never saw the error
    assert result.error is not None
    assert result.error.error_type == "aiodurable.errors.PayloadUnavailableError"
    assert "the execution fails with this error" in (result.error.error_message or "")
    failed = [
        e
        for e in result.events(EventType.INVOCATION_COMPLETED)
        if e.invocation_completed_details is not None
        and e.invocation_completed_details.error is not None
    ]
    assert len(failed) == 3 and built == ["build"]
    # What the documentation promises is what happened.
    docs = (Path(__file__).parent.parent / "docs").glob("*.md")
    assert not any("never the execution" in page.read_text() for page in docs)
