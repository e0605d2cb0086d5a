"""Offload values to Amazon S3, asynchronously through aiobotocore (no thread)."""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable
from typing import Any

from aiodurable.errors import PayloadUnavailableError
from aiodurable.limits import MAX_OPERATION_PAYLOAD_BYTES
from aiodurable.offload.envelope import (
    Envelope,
    OffloadedPayloadMissingError,
    OffloadingSerdes,
    OffloadMode,
    PathEncoding,
    S3Pointer,
)
from aiodurable.serdes import Serdes, SerdesContext

__all__ = ["S3Encryption", "S3Serdes"]

_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}
#: S3 error codes that say "not now" rather than "not there" (5xx statuses count too).
_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestLimitExceeded",
    "InternalError",
    "ServiceUnavailable",
}


def _unavailable(location: str, context: SerdesContext, reason: str) -> PayloadUnavailableError:
    return PayloadUnavailableError(
        f"reading {location}, the value of operation {context.operation_id}, failed: "
        f"{reason}. The invocation ends with this error and Lambda invokes the function "
        "again; if the bucket stays unreadable through the service's retries of failed "
        "invocations, the execution fails with this error: check the bucket's availability."
    )


class S3Encryption(enum.StrEnum):
    """Server-side encryption of the stored objects."""

    #: Whatever the bucket's default encryption is (SSE-S3 unless configured otherwise).
    BUCKET_DEFAULT = "BUCKET_DEFAULT"
    #: SSE-S3: keys managed by S3 (``AES256``).
    S3_MANAGED = "AES256"
    #: SSE-KMS: a KMS key (``kms_key_id``, or the account's ``aws/s3`` key).
    KMS = "aws:kms"


class _Client:
    """One S3 client per event loop, opened on first use, shared by bound copies."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A new loop (a new test, a new asyncio.run): a client belongs to one loop;
            # the old one went with its loop.
            self._loop, self._client, self._stack = loop, None, None
            self._lock = asyncio.Lock()
        assert self._lock is not None
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    stack = contextlib.AsyncExitStack()
                    self._client = await stack.enter_async_context(self._factory())
                    self._stack = stack
        return self._client

    async def aclose(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None and self._loop is asyncio.get_running_loop():
            await stack.aclose()


class S3Serdes(OffloadingSerdes):
    """Keeps operation values as S3 objects; the checkpoint holds bucket and key.

    Objects are named ``<prefix><execution>/<operation id>.json`` (see
    :class:`PathEncoding`), so a replay in any sandbox finds them and a retried attempt
    overwrites its own object::

        payloads = S3Serdes("my-payload-bucket", prefix="orders/", mode=OffloadMode.OVERFLOW)
        report = await ctx.step(build_report, month, serdes=payloads)

    The function's role needs ``s3:PutObject`` and ``s3:GetObject`` on the prefix (and
    ``kms:GenerateDataKey`` / ``kms:Decrypt`` with SSE-KMS). Keep the objects as long
    as executions run: a replay reads them. Use it as ``async with`` to close the client,
    or let it live as long as the process (the usual case on Lambda).

    Args:
        bucket: the bucket name.
        prefix: prepended to every key (include a trailing ``/`` for a folder).
        mode, path_encoding, preview, serdes, inline_limit: as for every offloading serdes.
        encryption: server-side encryption of new objects; ``kms_key_id`` for SSE-KMS.
        client: an aiobotocore S3 client you manage (its lifetime is yours).
        session: an aiobotocore session to create the client from (default: a new one).
        client_options: passed to ``create_client`` (``region_name``, ``endpoint_url`` …).
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        mode: OffloadMode = OffloadMode.ALWAYS,
        path_encoding: PathEncoding = PathEncoding.READABLE,
        preview: Callable[[Any], Any] | None = None,
        serdes: Serdes[Any] | None = None,
        inline_limit: int = MAX_OPERATION_PAYLOAD_BYTES,
        encryption: S3Encryption = S3Encryption.BUCKET_DEFAULT,
        kms_key_id: str | None = None,
        client: Any = None,
        session: Any = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            mode=mode,
            path_encoding=path_encoding,
            preview=preview,
            serdes=serdes,
            inline_limit=inline_limit,
        )
        if not bucket:
            raise ValueError("S3Serdes needs a bucket name")
        encryption = S3Encryption(encryption)
        if kms_key_id is not None and encryption is not S3Encryption.KMS:
            raise ValueError("kms_key_id is only used with encryption=S3Encryption.KMS")
        self.bucket = bucket
        self.prefix = prefix
        self._put_options: dict[str, str] = {}
        if encryption is not S3Encryption.BUCKET_DEFAULT:
            self._put_options["ServerSideEncryption"] = encryption.value
        if kms_key_id is not None:
            self._put_options["SSEKMSKeyId"] = kms_key_id
        self._given = client
        options = dict(client_options or {})

        def factory() -> Any:
            if session is None:
                from aiobotocore.session import get_session  # type: ignore[import-untyped]

                return get_session().create_client("s3", **options)
            return session.create_client("s3", **options)

        self._client = _Client(factory)

    async def __aenter__(self) -> S3Serdes:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client this serdes opened (not one passed as ``client=``)."""
        await self._client.aclose()

    async def _s3(self) -> Any:
        return self._given if self._given is not None else await self._client.get()

    def key_for(self, path: str) -> str:
        return f"{self.prefix}{path}"

    async def _store(self, path: str, data: bytes, context: SerdesContext) -> Envelope:
        key = self.key_for(path)
        s3 = await self._s3()
        await s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="application/json",
            **self._put_options,
        )
        return Envelope(s3=S3Pointer(bucket=self.bucket, key=key))

    async def _load(self, envelope: Envelope, context: SerdesContext) -> bytes:
        pointer = envelope.s3
        if pointer is None:
            raise OffloadedPayloadMissingError(
                "no S3 object",
                context.operation_id,
                "the envelope points to another store (written by FileSystemSerdes?)",
            )
        location = f"s3://{pointer.bucket}/{pointer.key}"
        from botocore.exceptions import (  # type: ignore[import-untyped]
            ClientError,
            HTTPClientError,
        )
        from botocore.exceptions import ConnectionError as S3ConnectionError

        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=pointer.bucket, Key=pointer.key)
            async with response["Body"] as body:
                data: bytes = await body.read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise OffloadedPayloadMissingError(
                    location, context.operation_id, f"S3 says {code}"
                ) from exc
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if code in _TRANSIENT or status >= 500:
                raise _unavailable(location, context, f"S3 says {code or status}") from exc
            raise
        except (S3ConnectionError, HTTPClientError) as exc:  # after the client's own retries
            raise _unavailable(location, context, str(exc)) from exc
        return data

    def __repr__(self) -> str:
        return f"S3Serdes({self.bucket!r}, prefix={self.prefix!r}, mode={self.mode.value})"
