"""OpenTelemetry tracing of durable executions (``pip install aiodurable[otel]``).

    from aiodurable.otel import OpenTelemetryPlugin

    @durable_execution(plugins=[OpenTelemetryPlugin()])
    async def handler(event, ctx): ...

Importing ``aiodurable`` never imports this package (nor OpenTelemetry); importing it
needs ``opentelemetry-api`` and ``opentelemetry-sdk``. docs/observability.md describes
the spans, their attributes and the Lambda set-up.
"""

from aiodurable.otel.ids import (
    PresetIdGenerator,
    execution_trace_id,
    operation_span_id,
    workflow_span_id,
)
from aiodurable.otel.logs import add_trace_ids
from aiodurable.otel.plugin import OpenTelemetryPlugin
from aiodurable.otel.propagation import IncomingContext, parse_xray_header, xray_incoming_context

__all__ = [
    "IncomingContext",
    "OpenTelemetryPlugin",
    "PresetIdGenerator",
    "add_trace_ids",
    "execution_trace_id",
    "operation_span_id",
    "parse_xray_header",
    "workflow_span_id",
    "xray_incoming_context",
]
