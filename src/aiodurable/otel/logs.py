"""Log records that name the span they were written in, so logs and traces join.

:func:`add_trace_ids` is a structlog processor: it adds ``traceId`` and ``spanId`` (the
OpenTelemetry hex forms) to every record written while a valid span is current. The
OpenTelemetry plugin puts it in ``ctx.logger``'s default chain; with a chain of your own,
add it yourself::

    LoggingConfig(processors=[add_trace_ids, *my_processors])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.trace import get_current_span

if TYPE_CHECKING:
    from structlog.typing import EventDict, WrappedLogger

__all__ = ["add_trace_ids"]


def add_trace_ids(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Add ``traceId`` and ``spanId`` of the current span, when there is one."""
    context = get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("traceId", format(context.trace_id, "032x"))
        event_dict.setdefault("spanId", format(context.span_id, "016x"))
    return event_dict
