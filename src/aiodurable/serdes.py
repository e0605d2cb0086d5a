"""Serialization of checkpoint payloads (PROTOCOL §7.4–7.7).

Values are written as plain JSON with msgspec; primitives come out exactly as the
service and other SDKs write them (``"hello"`` → ``"\\"hello\\""``, ``42`` → ``"42"``).
Decoding is typed: a step annotated ``-> Receipt`` gets a ``Receipt`` back on replay.
"""

from __future__ import annotations

import gc
from typing import Any, Generic, Protocol, TypeVar, cast

import msgspec

from aiodurable.errors import ResultTooLargeError, SerializationError

__all__ = ["JsonSerdes", "PassthroughSerdes", "Serdes", "SerdesContext"]

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


class SerdesContext(msgspec.Struct, frozen=True):
    """Where a payload belongs: handed to custom serializers."""

    operation_id: str
    durable_execution_arn: str


class Serdes(Protocol[T]):
    """Turns an operation's value into checkpoint text and back.

    ``serialize`` may return ``None`` to store no payload; ``deserialize`` is then not
    called on replay and the operation yields ``None``. Raise ``SerializationError`` for
    values that cannot be handled.
    """

    def serialize(self, value: T, context: SerdesContext) -> str | None:
        """Checkpoint text for ``value`` (``None``: store no payload)."""
        ...

    def deserialize(self, text: str, context: SerdesContext) -> T:
        """The value stored as ``text``."""
        ...


def _decoder_for(type_: Any) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    return decoder


def encode_json(value: object) -> str:
    """Plain JSON text of ``value`` (Structs, dataclasses, datetimes … included)."""
    try:
        return _encoder.encode(value).decode()
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(
            f"cannot serialize a value of type {type(value).__qualname__} as JSON: {exc}. "
            "Return JSON-compatible data, a msgspec Struct or a dataclass, "
            "or give the operation a custom serdes."
        ) from exc


#: Above this size a decode pauses the cyclic garbage collector: building a large
#: object tree would otherwise trigger collections that only scan what is being kept.
_GC_PAUSE_CHARS = 64 * 1024


def decode_json(text: str | bytes, type_: Any = Any) -> Any:
    paused = len(text) > _GC_PAUSE_CHARS and gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _decoder_for(type_).decode(text)
    except (msgspec.DecodeError, TypeError) as exc:
        raise SerializationError(
            f"cannot decode checkpointed JSON as {getattr(type_, '__qualname__', type_)}: {exc}"
        ) from exc
    finally:
        if paused:
            gc.enable()


class JsonSerdes(Generic[T]):
    """The default serdes: plain JSON, decoded into ``type_`` (``Any`` keeps JSON)."""

    __slots__ = ("type_",)

    def __init__(self, type_: Any = Any) -> None:
        self.type_ = type_

    def serialize(self, value: T, context: SerdesContext) -> str | None:
        """JSON text of ``value``."""
        return encode_json(value)

    def deserialize(self, text: str, context: SerdesContext) -> T:
        """``text`` decoded into this serdes' type."""
        return cast(T, decode_json(text, self.type_))


class PassthroughSerdes:
    """Keeps the payload text as it is (the default for callback results)."""

    __slots__ = ()

    def serialize(self, value: str, context: SerdesContext) -> str | None:
        """The text itself."""
        if not isinstance(value, str):
            raise SerializationError(
                f"PassthroughSerdes stores text only, got {type(value).__qualname__}"
            )
        return value

    def deserialize(self, text: str, context: SerdesContext) -> str:
        """The stored text as it is."""
        return text


#: The service stores at most this many characters per payload (PROTOCOL §2.8).
MAX_PAYLOAD_CHARS = 6_291_456


def check_payload_size(text: str | None, what: str) -> None:
    """Refuse a payload the service would reject, before it is sent."""
    if text is not None and len(text) > MAX_PAYLOAD_CHARS:
        raise ResultTooLargeError(
            f"{what} serializes to {len(text)} characters; a checkpoint payload holds at "
            f"most {MAX_PAYLOAD_CHARS}. Store large data elsewhere (e.g. S3) and return a "
            "reference, or return it from a child context, which keeps large results by "
            "replaying its operations."
        )


ANY_JSON: JsonSerdes[Any] = JsonSerdes()
PASSTHROUGH = PassthroughSerdes()


def serialize(serdes: Serdes[Any], value: object, context: SerdesContext) -> str | None:
    """Run a serdes, turning foreign exceptions into ``SerializationError``."""
    try:
        return serdes.serialize(value, context)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(
            f"serializing the result of operation {context.operation_id} failed: {exc!r}"
        ) from exc


def deserialize(serdes: Serdes[Any], text: str | None, context: SerdesContext) -> Any:
    """Decode stored text; an absent payload is ``None`` (PROTOCOL §7.6)."""
    if text is None:
        return None
    try:
        return serdes.deserialize(text, context)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(
            f"deserializing the result of operation {context.operation_id} failed: {exc!r}"
        ) from exc
