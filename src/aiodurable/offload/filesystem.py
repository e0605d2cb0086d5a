"""Offload values to a shared filesystem: Amazon EFS or S3 Files mounted on the function."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiodurable.errors import PayloadUnavailableError
from aiodurable.limits import MAX_OPERATION_PAYLOAD_BYTES
from aiodurable.offload.envelope import (
    Envelope,
    OffloadedPayloadMissingError,
    OffloadingSerdes,
    OffloadMode,
    PathEncoding,
)
from aiodurable.serdes import Serdes, SerdesContext

__all__ = ["FileSystemSerdes"]


class FileSystemSerdes(OffloadingSerdes):
    """Keeps operation values as files under ``base_path``; the checkpoint holds the path.

    ``base_path`` must be storage every sandbox of the function shares, kept at least as
    long as the execution runs: an EFS access point or an S3 Files mount. **Not** ``/tmp``
    — it belongs to one sandbox, and a replay elsewhere would not find the file::

        serdes = FileSystemSerdes("/mnt/payloads", mode=OffloadMode.OVERFLOW)
        report = await ctx.step(build_report, month, serdes=serdes)

    A file is written to a temporary name and renamed into place, so a replay never
    reads a half-written file and a retried attempt replaces its own file. File I/O runs
    in a worker thread (as sync step functions do), never on the event loop.

    Args:
        base_path: the mount point (or a directory under it).
        mode: ``ALWAYS`` (every value to a file) or ``OVERFLOW`` (inline when it fits).
        path_encoding: ``READABLE`` or ``HASHED`` file names (see :class:`PathEncoding`).
        preview: ``value -> JSON-able summary`` kept inline next to the path (≤ 4 KiB).
        serdes: how the value becomes text; default: the operation's typed JSON.
        inline_limit: in ``OVERFLOW`` mode, the largest envelope kept inline (bytes).
    """

    def __init__(
        self,
        base_path: str | os.PathLike[str],
        *,
        mode: OffloadMode = OffloadMode.ALWAYS,
        path_encoding: PathEncoding = PathEncoding.READABLE,
        preview: Callable[[Any], Any] | None = None,
        serdes: Serdes[Any] | None = None,
        inline_limit: int = MAX_OPERATION_PAYLOAD_BYTES,
    ) -> None:
        super().__init__(
            mode=mode,
            path_encoding=path_encoding,
            preview=preview,
            serdes=serdes,
            inline_limit=inline_limit,
        )
        self.base_path = Path(base_path).absolute()

    async def _store(self, path: str, data: bytes, context: SerdesContext) -> Envelope:
        import anyio.to_thread

        target = self.base_path.joinpath(*path.split("/"))
        await anyio.to_thread.run_sync(_write_atomically, target, data)
        return Envelope(file=str(target))

    async def _load(self, envelope: Envelope, context: SerdesContext) -> bytes:
        if envelope.file is None:
            raise OffloadedPayloadMissingError(
                "no file",
                context.operation_id,
                "the envelope points to another store (written by S3Serdes?)",
            )
        import anyio.to_thread

        try:
            return await anyio.to_thread.run_sync(Path(envelope.file).read_bytes)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise OffloadedPayloadMissingError(
                envelope.file, context.operation_id, exc.strerror or repr(exc)
            ) from exc
        except OSError as exc:  # EIO, ESTALE, EACCES, a timeout: the mount, not the file
            raise PayloadUnavailableError(
                f"reading {envelope.file}, the value of operation {context.operation_id}, "
                f"failed: {exc.strerror or repr(exc)}. The invocation ends with this error and "
                "Lambda invokes the function again; if the file system stays unreadable through "
                "the service's retries of failed invocations, the execution fails with this "
                "error: check the mount."
            ) from exc

    def __repr__(self) -> str:
        return f"FileSystemSerdes({str(self.base_path)!r}, mode={self.mode.value})"


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
