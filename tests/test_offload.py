"""Offloading serdes against real stores: a directory, and S3 served by moto's server."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped]

from aiodurable import DurableContext, DurableHandler, WaitStrategy, durable_execution
from aiodurable.errors import SerializationError, StepError
from aiodurable.limits import MAX_OPERATION_PAYLOAD_BYTES, payload_bytes
from aiodurable.local import EventType, VirtualClock
from aiodurable.offload import (
    FileSystemSerdes,
    OffloadedPayloadMissingError,
    OffloadMode,
    PathEncoding,
    S3Encryption,
    S3Serdes,
    object_path,
)
from aiodurable.serdes import AnySerdes, JsonSerdes, SerdesContext, from_checkpoint, to_checkpoint
from aiodurable.testing import LocalRunner

from .s3_server import S3Server, running_s3_server

ARN = (
    "arn:aws:lambda:us-east-1:123456789012:function:reports:$LATEST"
    "/durable-execution/monthly-2026-11/0f1e2d3c4b5a"
)
MB = 1024 * 1024


class Report(msgspec.Struct):
    month: str
    rows: list[str]


def big_report(size: int = 2 * MB) -> Report:
    return Report(month="2026-11", rows=["r" * 1000] * (size // 1003))


def ctx(operation_id: str = "3f2a-step") -> SerdesContext:
    return SerdesContext(operation_id=operation_id, durable_execution_arn=ARN)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture
async def s3(s3_server: S3Server) -> AsyncIterator[Any]:
    """A raw S3 client, to look at what the serdes stored."""
    async with get_session().create_client("s3", **s3_server.client_options()) as client:
        yield client


@pytest.fixture
async def bucket(s3: Any) -> str:
    name = f"payloads-{uuid.uuid4().hex[:12]}"
    await s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
async def s3_serdes(s3_server: S3Server, bucket: str) -> AsyncIterator[S3Serdes]:
    async with S3Serdes(
        bucket, prefix="runs/", client_options=s3_server.client_options()
    ) as serdes:
        yield serdes


# -- the stores, through the serdes protocol ------------------------------------------------
async def test_a_2_mb_value_round_trips_through_a_directory(tmp_path: Path) -> None:
    serdes = FileSystemSerdes(tmp_path).bind(JsonSerdes(Report))
    report = big_report()

    text, back = await to_checkpoint(serdes, report, ctx())
    envelope = json.loads(text or "")

    assert payload_bytes(text or "") < 1024
    assert Path(envelope["file"]).is_file()  # noqa: ASYNC240
    assert Path(envelope["file"]).is_relative_to(tmp_path)
    assert envelope["size"] == Path(envelope["file"]).stat().st_size >= 2 * MB - 2048  # noqa: ASYNC240
    assert back == report and isinstance(back, Report)
    assert await from_checkpoint(serdes, text, ctx()) == report


async def test_a_2_mb_value_round_trips_through_s3(s3_serdes: S3Serdes, s3: Any) -> None:
    serdes = s3_serdes.bind(JsonSerdes(Report))
    report = big_report()

    text, _ = await to_checkpoint(serdes, report, ctx())
    pointer = json.loads(text or "")["s3"]
    head = await s3.head_object(Bucket=pointer["bucket"], Key=pointer["key"])

    assert pointer["key"] == "runs/reports/monthly-2026-11/0f1e2d3c4b5a/3f2a-step.json"
    assert head["ContentLength"] >= 2 * MB - 2048
    assert await from_checkpoint(serdes, text, ctx()) == report


async def test_readable_and_hashed_paths_name_execution_and_operation() -> None:
    readable = object_path(ctx("op/1"), PathEncoding.READABLE)
    hashed = object_path(ctx("op/1"), PathEncoding.HASHED)
    other_arn = object_path(
        SerdesContext(operation_id="a", durable_execution_arn="not an arn"),
        PathEncoding.READABLE,
    )

    assert readable == "reports/monthly-2026-11/0f1e2d3c4b5a/op%2F1.json"
    directory, file = hashed.split("/")
    assert len(directory) == 64 and file.endswith(".json") and len(file) == 64 + 5
    assert "reports" not in hashed and "op" not in hashed
    assert object_path(ctx("op/1"), PathEncoding.HASHED) == hashed  # stable
    assert object_path(ctx("op/2"), PathEncoding.HASHED) != hashed
    assert other_arn == "not%20an%20arn/a.json"


async def test_overflow_keeps_small_values_inline_and_offloads_large_ones(
    tmp_path: Path,
) -> None:
    serdes = FileSystemSerdes(tmp_path, mode=OffloadMode.OVERFLOW)
    small = {"total": 30}
    just_over = "x" * MAX_OPERATION_PAYLOAD_BYTES  # its envelope is a few bytes over

    small_text, _ = await to_checkpoint(serdes, small, ctx("small"))
    large_text, _ = await to_checkpoint(serdes, just_over, ctx("large"))

    assert json.loads(small_text or "") == {"data": '{"total":30}'}
    assert not list(tmp_path.rglob("small.json"))  # noqa: ASYNC240
    assert "file" in json.loads(large_text or "")
    assert await from_checkpoint(serdes, small_text, ctx("small")) == small
    assert await from_checkpoint(serdes, large_text, ctx("large")) == just_over


async def test_always_offloads_even_a_small_value_and_keeps_a_preview(tmp_path: Path) -> None:
    serdes = FileSystemSerdes(
        tmp_path, preview=lambda r: {"month": r.month, "rows": len(r.rows)}
    ).bind(JsonSerdes(Report))
    report = Report(month="2026-11", rows=["a", "b"])

    text, _ = await to_checkpoint(serdes, report, ctx())

    envelope = json.loads(text or "")
    assert envelope["preview"] == {"month": "2026-11", "rows": 2}
    assert Path(envelope["file"]).read_text() == '{"month":"2026-11","rows":["a","b"]}'  # noqa: ASYNC240


async def test_a_preview_over_4_kib_is_refused_with_the_remedy(tmp_path: Path) -> None:
    serdes = FileSystemSerdes(tmp_path, preview=lambda value: value)

    with pytest.raises(Exception, match="a preview holds at most 4096") as caught:
        await to_checkpoint(serdes, "y" * 10_000, ctx())
    assert "summary fields" in str(caught.value)


async def test_a_retried_write_overwrites_its_own_object(s3_serdes: S3Serdes, s3: Any) -> None:
    first, _ = await to_checkpoint(s3_serdes, {"attempt": 1}, ctx())
    second, _ = await to_checkpoint(s3_serdes, {"attempt": 2}, ctx())

    listing = await s3.list_objects_v2(Bucket=s3_serdes.bucket)
    assert json.loads(first or "")["s3"] == json.loads(second or "")["s3"]  # same key
    assert len(listing["Contents"]) == 1
    assert await from_checkpoint(s3_serdes, second, ctx()) == {"attempt": 2}
    # The first attempt's checkpoint, had it been kept, would not read the second value.
    with pytest.raises(OffloadedPayloadMissingError, match="SHA-256 mismatch"):
        await from_checkpoint(s3_serdes, first, ctx())


async def test_a_missing_s3_object_raises_a_typed_error_naming_the_key(
    s3_serdes: S3Serdes, s3: Any
) -> None:
    text, _ = await to_checkpoint(s3_serdes, {"n": 1}, ctx())
    key = json.loads(text or "")["s3"]["key"]
    await s3.delete_object(Bucket=s3_serdes.bucket, Key=key)

    with pytest.raises(OffloadedPayloadMissingError) as caught:
        await from_checkpoint(s3_serdes, text, ctx())

    assert f"s3://{s3_serdes.bucket}/{key}" in str(caught.value)
    assert caught.value.location == f"s3://{s3_serdes.bucket}/{key}"
    assert "same bucket/prefix" in str(caught.value)


async def test_a_missing_file_raises_a_typed_error_naming_the_path(tmp_path: Path) -> None:
    serdes = FileSystemSerdes(tmp_path)
    text, _ = await to_checkpoint(serdes, {"n": 1}, ctx())
    path = json.loads(text or "")["file"]
    Path(path).unlink()  # noqa: ASYNC240

    with pytest.raises(OffloadedPayloadMissingError, match=path.replace("$", r"\$")):
        await from_checkpoint(serdes, text, ctx())


@pytest.mark.parametrize(
    ("encryption", "key_id", "expected"),
    [
        (S3Encryption.S3_MANAGED, None, {"ServerSideEncryption": "AES256"}),
        (
            S3Encryption.KMS,
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            {
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": "arn:aws:kms:us-east-1:123456789012:key/"
                "1234abcd-12ab-34cd-56ef-1234567890ab",
            },
        ),
    ],
)
async def test_objects_are_written_with_the_chosen_server_side_encryption(
    s3_server: S3Server,
    bucket: str,
    s3: Any,
    encryption: S3Encryption,
    key_id: str | None,
    expected: dict[str, str],
) -> None:
    async with S3Serdes(
        bucket,
        encryption=encryption,
        kms_key_id=key_id,
        client_options=s3_server.client_options(),
    ) as serdes:
        text, _ = await to_checkpoint(serdes, {"secret": True}, ctx())
    key = json.loads(text or "")["s3"]["key"]

    head = await s3.head_object(Bucket=bucket, Key=key)

    assert {name: head.get(name) for name in expected} == expected


def test_a_kms_key_without_kms_encryption_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"only used with encryption=S3Encryption\.KMS"):
        S3Serdes("b", kms_key_id="k")


async def test_an_envelope_from_another_serdes_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="not an offloading envelope"):
        await from_checkpoint(FileSystemSerdes(tmp_path), '"plain text"', ctx())


# -- through the operations, on the local backend -------------------------------------------
BUILT: list[str] = []


async def build_report(month: str) -> Report:
    BUILT.append(month)
    return big_report()


def reporting(serdes: AnySerdes) -> DurableHandler[dict[str, str], dict[str, Any]]:
    """A workflow whose 2 MB step result must come back typed after a replay."""

    @durable_execution
    async def reports(event: dict[str, str], ctx: DurableContext) -> dict[str, Any]:
        report = await ctx.step(build_report, event["month"], name="build", serdes=serdes)
        await ctx.wait(3600, name="later")  # the rest runs in a later invocation: a replay
        return {"type": type(report).__name__, "rows": len(report.rows)}

    return reports


async def suspended(runner: LocalRunner[Any], arn: str) -> None:
    """Until the first invocation has ended (the execution waits on its timer)."""
    backend = runner.backend
    await backend.wait_until(
        lambda: (
            not backend.is_invoking(arn)
            and any(e.event_type is EventType.INVOCATION_COMPLETED for e in backend.history(arn))
        )
    )


@pytest.fixture(params=["s3", "directory"])
async def offloading(
    request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server, bucket: str
) -> AsyncIterator[AnySerdes]:
    if request.param == "directory":
        yield FileSystemSerdes(tmp_path / "mnt")
        return
    async with S3Serdes(
        bucket, prefix="runs/", client_options=s3_server.client_options()
    ) as serdes:
        yield serdes


async def test_a_2_mb_step_result_replays_typed_in_a_new_runner_over_the_same_store(
    offloading: AnySerdes, tmp_path: Path
) -> None:
    workflow = reporting(offloading)
    store = tmp_path / "local.db"
    BUILT.clear()

    async with LocalRunner(workflow, store=store, clock=VirtualClock(auto_advance=False)) as first:
        run = await first.start({"month": "2026-11"}, name="nov")
        await suspended(first, run.arn)
        envelope = json.loads(run.step("build").result or "")
    async with LocalRunner(workflow, store=store) as second:  # nothing in memory carries over
        again = await second.start({"month": "2026-11"}, name="nov")
        result = await again.wait()

    assert again.arn == run.arn and result.succeeded
    assert result.result == {"type": "Report", "rows": len(big_report().rows)}
    assert BUILT == ["2026-11"]  # built once: the replay read the stored value
    assert ("s3" in envelope) or ("file" in envelope)
    assert envelope["size"] >= 2 * MB - 2048
    assert payload_bytes(run.step("build").result or "") < 1024


async def test_a_missing_object_on_replay_fails_the_execution_naming_the_key(
    s3_server: S3Server, bucket: str, s3: Any
) -> None:
    serdes = S3Serdes(bucket, client_options=s3_server.client_options())
    workflow = reporting(serdes)

    async with serdes, LocalRunner(workflow, clock=VirtualClock(auto_advance=False)) as runner:
        run = await runner.start({"month": "2026-12"})
        await suspended(runner, run.arn)
        key = json.loads(run.step("build").result or "")["s3"]["key"]
        await s3.delete_object(Bucket=bucket, Key=key)
        runner.advance(3600)
        result = await run.wait()

    assert result.status == "FAILED"
    assert result.error is not None
    assert result.error.error_type == "aiodurable.offload.envelope.OffloadedPayloadMissingError"
    assert f"s3://{bucket}/{key}" in (result.error.error_message or "")


async def a_thousand_as(label: str) -> str:
    return "A" * 1000


def remembering(serdes: AnySerdes) -> DurableHandler[dict[str, str], str]:
    """A 1,000-byte offloaded step result read back after a wait (a replay)."""

    @durable_execution
    async def remembers(event: dict[str, str], ctx: DurableContext) -> str:
        value = await ctx.step(a_thousand_as, "x", name="value", serdes=serdes)
        await ctx.wait(3600, name="later")
        return value

    return remembers


@pytest.mark.parametrize("replacement", [b'"' + b"B" * 1000 + b'"', b'"short"'])
async def test_an_object_replaced_during_a_wait_fails_the_replay_as_a_missing_one_would(
    offloading: AnySerdes, s3: Any, bucket: str, replacement: bytes
) -> None:
    async with LocalRunner(
        remembering(offloading), clock=VirtualClock(auto_advance=False)
    ) as runner:
        run = await runner.start({})
        await suspended(runner, run.arn)
        envelope = json.loads(run.step("value").result or "")
        if "file" in envelope:
            Path(envelope["file"]).write_bytes(replacement)  # noqa: ASYNC240
            location = envelope["file"]
        else:
            pointer = envelope["s3"]
            await s3.put_object(Bucket=pointer["bucket"], Key=pointer["key"], Body=replacement)
            location = f"s3://{pointer['bucket']}/{pointer['key']}"
        runner.advance(3600)
        result = await run.wait()

    assert result.status == "FAILED"
    assert result.error is not None
    assert result.error.error_type == "aiodurable.offload.envelope.OffloadedPayloadMissingError"
    message = result.error.error_message or ""
    assert location in message
    assert ("SHA-256 mismatch" if len(replacement) == 1002 else "bytes where 1002") in message


async def test_an_envelope_written_without_a_digest_is_still_read(tmp_path: Path) -> None:
    serdes = FileSystemSerdes(tmp_path)
    text, _ = await to_checkpoint(serdes, {"n": 1}, ctx())
    envelope = json.loads(text or "")
    assert len(envelope["sha256"]) == 64
    del envelope["sha256"]  # as written before the digest was recorded
    assert await from_checkpoint(serdes, json.dumps(envelope), ctx()) == {"n": 1}
    del envelope["size"]  # as the official SDK writes it
    assert await from_checkpoint(serdes, json.dumps(envelope), ctx()) == {"n": 1}


CHUNK = 300 * 1024


async def chunk(child: DurableContext, item: int, index: int) -> str:
    return f"{item:03d}" + "c" * (CHUNK - 3)


async def test_a_map_of_200_items_of_300_kb_offloads_each_item_and_replays_them(
    s3_server: S3Server, bucket: str, s3: Any
) -> None:
    async with S3Serdes(bucket, prefix="map/", client_options=s3_server.client_options()) as serdes:

        @durable_execution
        async def fan_out(event: int, ctx: DurableContext) -> list[str]:
            batch = await ctx.map(list(range(event)), chunk, name="chunks", item_serdes=serdes)
            await ctx.wait(60, name="later")  # the rest replays the map from its checkpoints
            return [f"{text[:3]}:{len(text)}" for text in batch.get_results() if text]

        async with LocalRunner(fan_out) as runner:
            result = await runner.run(200)
        listing = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="map/")
        keys = [item["Key"] async for page in listing for item in page.get("Contents", [])]

    assert result.succeeded and result.invocations == 2
    assert result.result == [f"{i:03d}:{CHUNK}" for i in range(200)]
    assert len(keys) == 200
    items = [op for op in result.operations if op.sub_type == "MapIteration"]
    assert len(items) == 200
    assert all(payload_bytes(op.result or "") < 512 for op in items)  # envelopes only


# -- an asynchronous serdes on every operation ----------------------------------------------
class Order(msgspec.Struct):
    id: str
    total: int


async def price(order_id: str) -> Order:
    return Order(order_id, 30)


async def triple(child: DurableContext, item: int, index: int) -> int:
    return item * 3


async def echo(payload: Any) -> Any:
    """A plain function target: hands back the envelope it was invoked with."""
    return payload


def everything(serdes: AnySerdes) -> DurableHandler[Any, dict[str, Any]]:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> dict[str, Any]:
        order = await ctx.step(price, "o-1", name="price", serdes=serdes)
        child = await ctx.run_in_child_context(
            lambda c: c.step(price, "o-2", name="inner"), name="child", serdes=serdes
        )
        mapped = await ctx.map([1, 2, 3], triple, name="triple", item_serdes=serdes, serdes=serdes)
        branches = await ctx.parallel(
            [lambda c: c.step(price, "o-3", name="p")], name="both", item_serdes=serdes
        )
        polled = await ctx.wait_for_condition(
            lambda n: n + 1,
            initial_state=0,
            wait_strategy=WaitStrategy(lambda n: n < 3, initial_delay=1),
            name="poll",
            serdes=serdes,
        )
        approval = await ctx.wait_for_callback(
            lambda callback_id: None, name="approve", result_type=str, serdes=serdes
        )
        callback = await ctx.create_callback(name="later", serdes=serdes)  # text: no type
        later = await callback.result()
        echoed = await ctx.invoke(
            "echo", {"n": 1}, name="call", payload_serdes=serdes, result_serdes=serdes
        )
        return {
            "order": type(order).__name__,
            "child": type(child).__name__,  # untyped child: what JSON gives back
            "mapped": mapped.get_results(),
            "branch": type(branches.get_results()[0]).__name__,
            "polled": polled,
            "callbacks": [approval, later],
            "echoed": echoed,
        }

    return workflow


async def test_an_asynchronous_serdes_serves_every_operation_on_the_first_run_and_on_replay(
    tmp_path: Path,
) -> None:
    serdes = FileSystemSerdes(tmp_path)  # ALWAYS: every value is a file, read back on replay
    answer = {"data": '"yes"'}  # an answer to a callback with this serdes is an envelope

    async with LocalRunner(
        everything(serdes), functions={"echo": echo}, replay_check=True
    ) as runner:
        runner.on_callback(None, answer)
        result = await runner.run()

    assert result.succeeded, result.error
    assert result.result == {
        "order": "Order",
        "child": "dict",
        "mapped": [3, 6, 9],
        "branch": "dict",
        "polled": 3,
        "callbacks": ["yes", '"yes"'],
        "echoed": {"n": 1},
    }
    assert result.invocations > 10  # replay_check: every checkpoint is replayed
    stored = {op.name for op in result.operations if op.result and '"file"' in op.result}
    assert {"price", "child", "triple", "poll", "approve", "call"} <= stored
    # Each poll's state is an object of its own: none overwrites one a checkpoint names.
    (poll,) = [op for op in result.operations if op.name == "poll"]
    assert json.loads(poll.result or "")["file"].endswith(".3.json")
    assert len(list(tmp_path.rglob("*.[123].json"))) == 3  # noqa: ASYNC240


class FlakyStore:
    """An asynchronous serdes whose store fails the first ``failures`` writes."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.writes = failures, error, 0

    async def serialize(self, value: Any, context: SerdesContext) -> str | None:
        self.writes += 1
        if self.writes <= self.failures:
            raise self.error
        return json.dumps(value)

    async def deserialize(self, text: str, context: SerdesContext) -> Any:
        return json.loads(text)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # A store's I/O error is transient: the attempt fails and the step retries it.
        (OSError("the store is unreachable"), ("stored", 2)),
        # A value the serdes refuses fails the step at once, catchable.
        (SerializationError("cannot encode"), ("aiodurable.errors.SerializationError", 1)),
    ],
    ids=["io-error-retried", "serialization-error-fails-the-step"],
)
async def test_a_failing_store_retries_the_attempt_and_a_refused_value_fails_the_step(
    error: Exception, expected: tuple[str, int]
) -> None:
    store = FlakyStore(failures=1, error=error)

    @durable_execution
    async def saving(event: Any, ctx: DurableContext) -> str:
        try:
            await ctx.step(lambda: {"n": 1}, name="save", serdes=store)
        except StepError as exc:
            return exc.error_type or ""
        return "stored"

    async with LocalRunner(saving) as runner:
        result = await runner.run()

    assert (result.result, store.writes) == expected
    assert result.step("save").attempts == expected[1]
