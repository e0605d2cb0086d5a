"""Offloading serdes: large operation values kept outside the checkpoint.

The service stores at most 262,144 bytes per operation. An offloading serdes writes the
value to a store and checkpoints a small envelope pointing to it (optionally with a
preview), so a step can return megabytes::

    from aiodurable.offload import OffloadMode, S3Serdes

    payloads = S3Serdes("my-payload-bucket", prefix="orders/", mode=OffloadMode.OVERFLOW)

    @durable_execution
    async def workflow(event: dict, ctx: DurableContext) -> int:
        report = await ctx.step(build_report, event["month"], serdes=payloads)
        return report.total

Two stores: :class:`S3Serdes` (asynchronous, through aiobotocore; install
``aiodurable[s3]``) and :class:`FileSystemSerdes` (EFS or S3 Files mounted on the
function). See docs/large-payloads.md.
"""

from __future__ import annotations

from aiodurable.offload.envelope import (
    MAX_PREVIEW_BYTES,
    Envelope,
    OffloadedPayloadMissingError,
    OffloadingSerdes,
    OffloadMode,
    PathEncoding,
    S3Pointer,
    object_path,
)
from aiodurable.offload.filesystem import FileSystemSerdes
from aiodurable.offload.s3 import S3Encryption, S3Serdes

__all__ = [
    "MAX_PREVIEW_BYTES",
    "Envelope",
    "FileSystemSerdes",
    "OffloadMode",
    "OffloadedPayloadMissingError",
    "OffloadingSerdes",
    "PathEncoding",
    "S3Encryption",
    "S3Pointer",
    "S3Serdes",
    "object_path",
]
