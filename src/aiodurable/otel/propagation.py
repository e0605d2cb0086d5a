"""Where an execution's spans attach: an incoming trace context, or a synthetic root.

On Lambda the durable service passes the same X-Ray trace to every invocation of an
execution (``_X_AMZN_TRACE_ID``: ``Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=1``).
Its root becomes the execution's trace id and its parent the parent of the ``Workflow``
span. Without one (the local backend, a test, a platform that passes nothing) the trace id
is derived from the ARN and the spans hang under a synthetic root span id that every
invocation derives alike, so the trace still has a single root and stays whole.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime

from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from aiodurable.otel.ids import execution_trace_id, root_span_id

__all__ = ["IncomingContext", "parent_context", "xray_incoming_context"]

#: Reads the trace context an invocation arrived with, given the execution ARN.
IncomingContext = Callable[[str], SpanContext | None]

_XRAY_ROOT = re.compile(r"Root=1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})")
_XRAY_PARENT = re.compile(r"Parent=([0-9a-fA-F]{16})")
_XRAY_SAMPLED = re.compile(r"Sampled=([01?])")


def parse_xray_header(header: str) -> SpanContext | None:
    """The span context of an X-Ray trace header, or ``None`` if it has no valid root.

    A header without ``Parent`` yields span id 0 (an invalid span context that still
    carries the trace id); callers then parent under the synthetic root.
    """
    root = _XRAY_ROOT.search(header)
    if root is None:
        return None
    parent = _XRAY_PARENT.search(header)
    sampled = _XRAY_SAMPLED.search(header)
    flags = TraceFlags.DEFAULT if sampled and sampled.group(1) == "0" else TraceFlags.SAMPLED
    return SpanContext(
        trace_id=int(root.group(1) + root.group(2), 16),
        span_id=int(parent.group(1), 16) if parent else 0,
        is_remote=True,
        trace_flags=TraceFlags(flags),
    )


def xray_incoming_context(arn: str) -> SpanContext | None:
    """The trace context Lambda passed this invocation in ``_X_AMZN_TRACE_ID``, if any."""
    header = os.environ.get("_X_AMZN_TRACE_ID")
    return parse_xray_header(header) if header else None


def parent_context(
    arn: str, started: datetime | None, incoming: SpanContext | None
) -> tuple[Context, SpanContext]:
    """The context the execution's top spans start in, and the span context it holds.

    The incoming context when it names a parent span; otherwise a synthetic root in the
    incoming trace (when only a trace id came) or in the execution's derived trace.
    """
    if incoming is not None and incoming.span_id != 0:
        parent = incoming
    else:
        trace_id = incoming.trace_id if incoming is not None else None
        parent = SpanContext(
            trace_id=trace_id or execution_trace_id(arn, started),
            span_id=root_span_id(arn),
            is_remote=True,
            trace_flags=incoming.trace_flags if incoming else TraceFlags(TraceFlags.SAMPLED),
        )
    return set_span_in_context(NonRecordingSpan(parent), Context()), parent
