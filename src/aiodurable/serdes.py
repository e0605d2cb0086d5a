"""Serialization of checkpoint payloads (docs/protocol.md §7.4–7.7).

Values are written as plain JSON with msgspec; primitives come out exactly as the
service and other SDKs write them (``"hello"`` → ``"\\"hello\\""``, ``42`` → ``"42"``).
Decoding is typed: a step annotated ``-> Receipt`` gets a ``Receipt`` back on replay.

pydantic v2 models (the ``aiodurable[pydantic]`` extra) go through the same path: written
as ``model_dump(mode="json")``, read back with ``model_validate``, inside containers too
(``list[Order]``, ``Order | None``). pydantic is never imported here: a value or type is
a model only if pydantic was already imported by the code that defines it.
"""

from __future__ import annotations

import gc
import inspect
import sys
from typing import Any, Generic, Protocol, TypeAlias, TypeVar, cast

import msgspec

from aiodurable.errors import PayloadUnavailableError, ResultTooLargeError, SerializationError
from aiodurable.limits import OFFLOAD_REMEDY, payload_bytes, payload_limit, payload_limit_message
from aiodurable.wire import OperationType

__all__ = ["AsyncSerdes", "JsonSerdes", "PassthroughSerdes", "Serdes", "SerdesContext"]

T = TypeVar("T")


def _pydantic_base() -> type | None:
    """pydantic's ``BaseModel`` if the program imported pydantic, else ``None``."""
    pydantic = sys.modules.get("pydantic")
    return getattr(pydantic, "BaseModel", None) if pydantic is not None else None


def _enc_hook(value: Any) -> Any:
    """What msgspec cannot encode itself: pydantic models, as their JSON-mode dump."""
    base = _pydantic_base()
    if base is not None and isinstance(value, base):
        model: Any = value
        return model.model_dump(mode="json")
    raise TypeError(f"Encoding objects of type {type(value).__qualname__} is unsupported")


def _dec_hook(type_: Any, data: Any) -> Any:
    """What msgspec cannot decode itself: pydantic models, validated by pydantic (its
    ``ValidationError`` is a ``ValueError``: msgspec reports it with the value's path)."""
    if isinstance(type_, type) and isinstance(data, type_):
        return data  # what msgspec does without a hook (``object`` takes anything)
    base = _pydantic_base()
    if base is not None and isinstance(type_, type) and issubclass(type_, base):
        return type_.model_validate(data)  # type: ignore[attr-defined]
    raise TypeError(
        f"Expected `{getattr(type_, '__qualname__', type_)}`, got `{type(data).__name__}`"
    )


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


class SerdesContext(msgspec.Struct, frozen=True):
    """Where a payload belongs: handed to custom serializers."""

    operation_id: str
    durable_execution_arn: str
    #: Set when each attempt of the operation checkpoints a value of its own (the state
    #: of ``wait_for_condition``), so a store keeps one object per attempt.
    attempt: int | None = None


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


class AsyncSerdes(Protocol[T]):
    """A serdes whose work is I/O (an object store, a network filesystem).

    The runtime awaits both methods; they must not block the event loop. Give one to any
    operation that takes ``serdes=`` — :class:`aiodurable.offload.S3Serdes` is one.
    Raise ``SerializationError`` for a value that cannot be handled (a step then fails at
    once); any other exception of ``serialize`` is taken for a transient I/O error and a
    step retries it per its retry policy.
    """

    async def serialize(self, value: T, context: SerdesContext) -> str | None:
        """Checkpoint text for ``value`` (``None``: store no payload)."""
        ...

    async def deserialize(self, text: str, context: SerdesContext) -> T:
        """The value stored as ``text``."""
        ...


#: What an operation's ``serdes=`` accepts.
AnySerdes: TypeAlias = "Serdes[Any] | AsyncSerdes[Any]"


def _decoder_for(type_: Any) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_, dec_hook=_dec_hook)
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


def convert(data: Any, type_: Any, *, strict: bool = True) -> Any:
    """``msgspec.convert`` of decoded JSON into ``type_``, pydantic models included."""
    return msgspec.convert(data, type_, strict=strict, dec_hook=_dec_hook)


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


#: The API model's limit for any payload string, in characters (docs/protocol.md §2.8).
MAX_PAYLOAD_CHARS = 6_291_456


def check_payload_size(
    text: str | None, what: str, operation_type: OperationType = OperationType.STEP
) -> None:
    """Refuse a payload the service would reject, before it is sent.

    ``what`` names the value ("the result of step 'fetch'"); the message gives its size,
    the limit, the service's own words and the remedy.
    """
    if text is None:
        return
    limit = payload_limit(operation_type)
    # A character is 1 to 4 bytes of UTF-8: a text short enough at 4 bytes a character
    # passes without being measured, and only a longer one is (encoded only when it is
    # not ASCII).
    if len(text) * 4 <= limit:
        return
    size = payload_bytes(text)
    if size > limit:
        raise ResultTooLargeError(
            f"{what} serializes to {size} bytes of UTF-8; the service stores at most "
            f"{limit} bytes per {operation_type.value} operation "
            f'("{payload_limit_message(operation_type)}"). {OFFLOAD_REMEDY}'
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
    """Decode stored text; an absent payload is ``None`` (docs/protocol.md §7.6)."""
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


def bind_serdes(given: AnySerdes | None, default: Serdes[Any]) -> AnySerdes:
    """The serdes an operation uses: ``default`` when none was given; a given serdes that
    wraps another (the offloading ones, through their ``bind`` method) takes ``default`` as
    its inner serdes unless it has its own, so typed results survive offloading."""
    if given is None:
        return default
    bind = getattr(given, "bind", None)
    return cast("AnySerdes", bind(default)) if bind is not None else given


async def to_checkpoint(
    serdes: AnySerdes, value: object, context: SerdesContext
) -> tuple[str | None, Any]:
    """Checkpoint text of ``value`` and the value a replay will see.

    Every operation stores its values through this function and reads them back through
    :func:`from_checkpoint`. The value is returned through the serdes on the first run
    too, so both runs see the same type. A serdes with a ``roundtrip`` method (the
    offloading ones) gives both at once, without reading back what it has just stored.

    A sync serdes' exceptions become :class:`SerializationError`. An asynchronous serdes
    raises ``SerializationError`` for a value it cannot handle; anything else it raises
    (its store's I/O errors) passes through unchanged, so a step counts it as a failed
    attempt and retries.
    """
    if serdes.__class__ is JsonSerdes:  # the default: no awaitable to look for
        text: Any = encode_json(value)
        return text, decode_json(text, serdes.type_)
    roundtrip = getattr(serdes, "roundtrip", None)
    try:
        pending = (
            roundtrip(value, context) if roundtrip is not None else serdes.serialize(value, context)
        )
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(
            f"serializing the result of operation {context.operation_id} failed: {exc!r}"
        ) from exc
    if inspect.isawaitable(pending):
        pending = await pending
    if roundtrip is not None:
        text, back = cast("tuple[str | None, Any]", pending)
        return text, back
    text = pending
    if text is None:
        return None, None
    return text, await from_checkpoint(serdes, text, context)


async def from_checkpoint(serdes: AnySerdes, text: str | None, context: SerdesContext) -> Any:
    """Decode stored text through a sync or async serdes; no payload is ``None``.

    A failure to reach the value's store (:class:`PayloadUnavailableError`, or a
    ``TimeoutError`` / ``ConnectionError`` turned into one) is transient: the operation
    layer ends the invocation with it. Every other exception but
    :class:`SerializationError` is wrapped in one naming the operation.
    """
    if text is None:
        return None
    if serdes.__class__ is JsonSerdes:
        return decode_json(text, serdes.type_)
    try:
        value = serdes.deserialize(text, context)
        if inspect.isawaitable(value):
            value = await value
        return value
    except (SerializationError, PayloadUnavailableError):
        raise
    except (TimeoutError, ConnectionError) as exc:
        raise PayloadUnavailableError(
            f"reading the stored result of operation {context.operation_id} failed: {exc!r}; "
            "the invocation ends with this error and Lambda invokes the function again"
        ) from exc
    except Exception as exc:
        raise SerializationError(
            f"deserializing the result of operation {context.operation_id} failed: {exc!r}"
        ) from exc
