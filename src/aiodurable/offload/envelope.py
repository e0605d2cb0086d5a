"""What an offloading serdes checkpoints, and the part every store shares.

The checkpoint holds a small JSON envelope instead of the value:

- ``{"data": "<value JSON>"}`` — the value, inline (``OVERFLOW`` mode, small values);
- ``{"file": "/mnt/efs/…/<op>.json", "size": 2097152, "sha256": "…", "preview": {…}}``
  — in a file;
- ``{"s3": {"bucket": "b", "key": "…/<op>.json"}, "size": 2097152, "sha256": "…", …}``.

``data`` / ``file`` / ``preview`` are the keys the official Python SDK's filesystem
serdes writes, so either SDK can read the other's filesystem envelopes. ``size`` is the
stored value's size in bytes and ``preview`` an optional summary chosen by the user:
both show in the execution history and ``aiodurable history`` without reading the store.

A read checks the object against the ``size`` and ``sha256`` (hex SHA-256 of the stored
bytes) recorded at write time: an object replaced or truncated after the checkpoint
would otherwise replay as a different value, so a mismatch fails as a missing object
does (:class:`OffloadedPayloadMissingError`). Envelopes written before the digest was
recorded (and the official SDK's, which record neither) are still read: what they
record is checked, nothing more.

A stored object is named by the execution and the operation (:func:`object_path`), so
a replay in any sandbox finds it and a retried attempt overwrites its own object.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import re
from collections.abc import Callable
from typing import Any, Self
from urllib.parse import quote

import msgspec

from aiodurable.errors import SerializationError
from aiodurable.limits import MAX_OPERATION_PAYLOAD_BYTES, payload_bytes
from aiodurable.serdes import JsonSerdes, Serdes, SerdesContext, deserialize, serialize

__all__ = [
    "MAX_PREVIEW_BYTES",
    "Envelope",
    "OffloadMode",
    "OffloadedPayloadMissingError",
    "OffloadingSerdes",
    "PathEncoding",
    "S3Pointer",
    "object_path",
]

#: A preview rides in every checkpoint of the operation: keep it to a few fields.
MAX_PREVIEW_BYTES = 4096


class OffloadMode(enum.StrEnum):
    """When a value leaves the checkpoint."""

    #: Every value goes to the store; the checkpoint holds a pointer (and the preview).
    ALWAYS = "ALWAYS"
    #: Inline while the envelope fits the service's per-operation limit (262,144 bytes),
    #: to the store above it.
    OVERFLOW = "OVERFLOW"


class PathEncoding(enum.StrEnum):
    """How the execution and the operation become path segments (or S3 key parts)."""

    #: ``<function>/<execution name>/<execution id>/<operation id>.json``, each segment
    #: percent-encoded: easy to browse. An ARN of another shape becomes one encoded segment.
    READABLE = "READABLE"
    #: ``<sha256(execution ARN)>/<sha256(operation id)>.json``: fixed length, always safe.
    HASHED = "HASHED"


class OffloadedPayloadMissingError(SerializationError):
    """A checkpoint points to a stored value that is not there (deleted, or another store)."""

    def __init__(self, location: str, operation_id: str, reason: str) -> None:
        super().__init__(
            f"the value of operation {operation_id} was offloaded to {location}, which "
            f"cannot be read: {reason}. Replay needs every object an execution wrote until "
            "the execution ends, unchanged: check that the serdes uses the same bucket/prefix "
            "or base path as when the value was written, and that no lifecycle rule, cleanup "
            "or other writer deleted or replaced it."
        )
        self.location = location
        self.operation_id = operation_id


class S3Pointer(msgspec.Struct, frozen=True):
    bucket: str
    key: str


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """The checkpointed text of an offloading serdes (see the module docstring)."""

    data: str | None = None
    file: str | None = None
    s3: S3Pointer | None = None
    size: int | None = None
    sha256: str | None = None
    preview: Any = None

    @property
    def location(self) -> str:
        """Where the value is stored, as an error message names it."""
        if self.s3 is not None:
            return f"s3://{self.s3.bucket}/{self.s3.key}"
        return self.file or "the checkpoint"

    def verify(self, data: bytes, operation_id: str) -> None:
        """Raise :class:`OffloadedPayloadMissingError` unless ``data`` is what was written
        (the recorded size and digest; an older envelope without them passes)."""
        if self.size is not None and len(data) != self.size:
            reason = f"it holds {len(data)} bytes where {self.size} were written"
        elif self.sha256 is not None and hashlib.sha256(data).hexdigest() != self.sha256:
            reason = "its content differs from what was written (SHA-256 mismatch)"
        else:
            return
        raise OffloadedPayloadMissingError(self.location, operation_id, reason)


_ENVELOPE_DECODER = msgspec.json.Decoder(Envelope)
_ENCODER = msgspec.json.Encoder()
_ARN = re.compile(
    r"arn:[^:]+:lambda:[^:]*:[^:]*:function:(?P<function>[^:/]+)(?::[^/]*)?"
    r"/durable-execution/(?P<name>[^/]+)/(?P<id>[^/]+)"
)


def _segment(value: str) -> str:
    return quote(value, safe="") or "_"


def object_path(context: SerdesContext, encoding: PathEncoding) -> str:
    """Relative path (``/``-separated) of the object holding an operation's value."""
    arn, op = context.durable_execution_arn, context.operation_id
    # A value per attempt (wait_for_condition states) gets a name per attempt: overwriting
    # the object a checkpoint still points to would let a replay read a newer state.
    suffix = f".{context.attempt}.json" if context.attempt is not None else ".json"
    if encoding is PathEncoding.HASHED:
        digest = hashlib.sha256
        return f"{digest(arn.encode()).hexdigest()}/{digest(op.encode()).hexdigest()}{suffix}"
    match = _ARN.fullmatch(arn)
    if match is None:
        directory = _segment(arn)
    else:
        directory = "/".join(_segment(match[part]) for part in ("function", "name", "id"))
    return f"{directory}/{_segment(op)}{suffix}"


class OffloadingSerdes:
    """Base of the serdes that keep values outside the checkpoint.

    A subclass says where bytes go (:meth:`_store`, :meth:`_load`); this class decides
    when a value leaves the checkpoint, builds the envelope and the preview, and turns
    the value into text with the inner ``serdes`` (typed JSON by default: an operation
    whose result type is known binds it, see :meth:`bind`).
    """

    def __init__(
        self,
        *,
        mode: OffloadMode = OffloadMode.ALWAYS,
        path_encoding: PathEncoding = PathEncoding.READABLE,
        preview: Callable[[Any], Any] | None = None,
        serdes: Serdes[Any] | None = None,
        inline_limit: int = MAX_OPERATION_PAYLOAD_BYTES,
    ) -> None:
        if not 0 < inline_limit <= MAX_OPERATION_PAYLOAD_BYTES:
            raise ValueError(
                f"inline_limit must be 1..{MAX_OPERATION_PAYLOAD_BYTES} (the service's "
                f"per-operation limit), got {inline_limit}"
            )
        self.mode = OffloadMode(mode)
        self.path_encoding = PathEncoding(path_encoding)
        self.preview = preview
        self.serdes = serdes
        self.inline_limit = inline_limit

    # -- what a store implements ---------------------------------------------------------
    async def _store(self, path: str, data: bytes, context: SerdesContext) -> Envelope:
        """Write ``data`` at ``path`` (overwriting) and return the pointer envelope."""
        raise NotImplementedError

    async def _load(self, envelope: Envelope, context: SerdesContext) -> bytes:
        """The bytes an envelope points to; :class:`OffloadedPayloadMissingError` if none."""
        raise NotImplementedError

    # -- composition ----------------------------------------------------------------------
    def bind(self, default: Serdes[Any]) -> Self:
        """This serdes, with ``default`` as inner serdes unless one was given.

        Operations call it with the serdes they would use on their own (typed JSON from
        a step's return annotation or a ``result_type``), so a step annotated
        ``-> Report`` still returns a ``Report`` through an offloading serdes.
        """
        if self.serdes is not None:
            return self
        bound = copy.copy(self)  # shallow: a store's client is shared, not rebuilt
        bound.serdes = default
        return bound

    @property
    def _inner(self) -> Serdes[Any]:
        return self.serdes if self.serdes is not None else _ANY

    # -- the serdes protocol --------------------------------------------------------------
    async def serialize(self, value: Any, context: SerdesContext) -> str | None:
        """Envelope text for ``value``, after storing it if it leaves the checkpoint."""
        text, _ = await self.roundtrip(value, context)
        return text

    async def roundtrip(self, value: Any, context: SerdesContext) -> tuple[str | None, Any]:
        """Envelope text and the value as a replay will decode it (no read-back)."""
        inner = self._inner
        text = serialize(inner, value, context)
        if text is None:
            return None, None
        back = deserialize(inner, text, context)
        if self.mode is OffloadMode.OVERFLOW:
            inline = _ENCODER.encode(Envelope(data=text)).decode()
            if payload_bytes(inline) <= self.inline_limit:
                return inline, back
        data = text.encode()
        pointer = await self._store(object_path(context, self.path_encoding), data, context)
        envelope = msgspec.structs.replace(
            pointer,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            preview=self._preview(value, context),
        )
        return _ENCODER.encode(envelope).decode(), back

    async def deserialize(self, text: str, context: SerdesContext) -> Any:
        """The value an envelope holds or points to."""
        try:
            envelope = _ENVELOPE_DECODER.decode(text)
        except msgspec.DecodeError as exc:
            raise SerializationError(
                f"the checkpoint of operation {context.operation_id} is not an offloading "
                f"envelope ({exc}): it was written by another serdes. Read it with the serdes "
                "that wrote it."
            ) from exc
        if envelope.data is not None:
            return deserialize(self._inner, envelope.data, context)
        data = await self._load(envelope, context)
        envelope.verify(data, context.operation_id)
        try:
            stored = data.decode()
        except UnicodeDecodeError as exc:
            raise SerializationError(
                f"the offloaded value of operation {context.operation_id} is not UTF-8 text"
            ) from exc
        return deserialize(self._inner, stored, context)

    def _preview(self, value: Any, context: SerdesContext) -> Any:
        if self.preview is None:
            return None
        try:
            preview = self.preview(value)
            size = len(_ENCODER.encode(preview))
        except Exception as exc:
            raise SerializationError(
                f"the preview function failed for operation {context.operation_id}: {exc!r}"
            ) from exc
        if size > MAX_PREVIEW_BYTES:
            raise SerializationError(
                f"the preview of operation {context.operation_id} is {size} bytes of JSON; a "
                f"preview holds at most {MAX_PREVIEW_BYTES}. Return a few summary fields "
                "(counts, ids, totals), not the data."
            )
        return preview


_ANY: JsonSerdes[Any] = JsonSerdes()
