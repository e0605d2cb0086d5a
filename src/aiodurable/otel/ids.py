"""Deterministic trace and span ids: every invocation of an execution derives the same ones.

An execution runs as many Lambda invocations, possibly in different sandboxes, and no
memory survives between them. For its spans to form one trace, every invocation must
compute the trace id, the ``Workflow`` span id and each operation's span id from what it
is told: the execution ARN, the execution's start time and the operation ids. The ids are
BLAKE2b digests of those strings; a trace id starts with the start time in epoch seconds,
as X-Ray expects of the trace ids it ingests.

OpenTelemetry's SDK draws span ids from its provider's ``id_generator``;
:class:`PresetIdGenerator` hands out one chosen id for the next span started in the same
thread or task and otherwise defers to the generator it replaced.
"""

from __future__ import annotations

import contextvars
import hashlib
from datetime import datetime

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

__all__ = [
    "PresetIdGenerator",
    "execution_trace_id",
    "operation_span_id",
    "root_span_id",
    "workflow_span_id",
]


def _digest(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "big")
    return value or 1  # an all-zero id is invalid in OpenTelemetry


def execution_trace_id(arn: str, started: datetime | None) -> int:
    """The 128-bit trace id of execution ``arn``: start seconds, then 96 bits of digest."""
    digest = _digest(f"trace:{arn}", 12)
    seconds = int(started.timestamp()) & 0xFFFFFFFF if started is not None else 0
    return (seconds << 96) | digest


def workflow_span_id(arn: str) -> int:
    """The span id of the execution's ``Workflow`` span."""
    return _digest(f"workflow:{arn}", 8)


def root_span_id(arn: str) -> int:
    """The id of the synthetic parent that stands for the execution's caller when no
    trace context came with the invocation; no span with this id is ever exported."""
    return _digest(f"root:{arn}", 8)


def operation_span_id(arn: str, operation_id: str) -> int:
    """The span id of operation ``operation_id``'s span (the first one, in the invocation
    view; the only one, in the execution view)."""
    return _digest(f"operation:{arn}:{operation_id}", 8)


_preset: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "aiodurable_otel_preset_span_id", default=None
)


class PresetIdGenerator(IdGenerator):
    """Gives the next span started in this thread or task a chosen id, once.

    Everything else (trace ids of new roots, ids of other spans) comes from the generator
    it wraps, so other instrumentation sharing the provider is unaffected.
    """

    def __init__(self, fallback: IdGenerator | None = None) -> None:
        self._fallback = fallback or RandomIdGenerator()

    @classmethod
    def install(cls, provider: TracerProvider) -> PresetIdGenerator:
        """The provider's preset generator, wrapping its current one on first use."""
        current = provider.id_generator
        if isinstance(current, cls):
            return current
        generator = cls(current)
        provider.id_generator = generator  # type: ignore[assignment]  # typed too narrowly
        return generator

    @staticmethod
    def preset(span_id: int | None) -> None:
        """Use ``span_id`` for the next span started here (``None``: a random one)."""
        _preset.set(span_id)

    def generate_span_id(self) -> int:
        """The preset id if one is pending (consuming it), else the fallback's."""
        span_id = _preset.get()
        if span_id is None:
            return self._fallback.generate_span_id()
        _preset.set(None)
        return span_id

    def generate_trace_id(self) -> int:
        """A trace id from the fallback (durable spans always have a parent to inherit)."""
        return self._fallback.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        """Whether the fallback's trace ids are random (the W3C random-trace-id flag)."""
        check = getattr(self._fallback, "is_trace_id_random", None)
        return bool(check()) if check is not None else False
