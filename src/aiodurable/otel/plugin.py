"""``OpenTelemetryPlugin``: durable executions as OpenTelemetry traces.

One execution is one trace, whatever the number of invocations and sandboxes that run
it: the trace id and the ids of the ``Workflow`` and operation spans are derived from the
execution ARN and the operation ids (:mod:`aiodurable.otel.ids`), and the spans of each
invocation attach to the trace context Lambda passed in (X-Ray's ``_X_AMZN_TRACE_ID``) or,
without one, to a synthetic root every invocation derives alike. What the spans are is
the view's business: :mod:`~aiodurable.otel.execution_view` or
:mod:`~aiodurable.otel.invocation_view`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from opentelemetry import trace
from opentelemetry.context import get_current
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.trace import Span, StatusCode, TracerProvider

from aiodurable._version import __version__
from aiodurable.otel.execution_view import ExecutionView
from aiodurable.otel.ids import PresetIdGenerator
from aiodurable.otel.invocation_view import InvocationView
from aiodurable.otel.logs import add_trace_ids
from aiodurable.otel.propagation import IncomingContext, parent_context, xray_incoming_context
from aiodurable.otel.spans import Invocation, SpanStarter, detach, in_context, to_ns
from aiodurable.otel.view import View
from aiodurable.plugins import (
    InvocationEndInfo,
    InvocationEndStatus,
    InvocationStartInfo,
    OperationEndInfo,
    OperationStartInfo,
    Plugin,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)
from aiodurable.replay_logging import add_default_processor

__all__ = ["OpenTelemetryPlugin"]

_logger = logging.getLogger("aiodurable.otel")
#: Invocations followed at once; more means ends were lost (a crashed invocation).
_MAX_OPEN_INVOCATIONS = 10_000
_VIEWS: dict[str, type[View]] = {"execution": ExecutionView, "invocation": InvocationView}


class OpenTelemetryPlugin(Plugin):
    """Traces every execution of the handlers it is given to.

    ``view="execution"`` (the default) draws the execution as one tree: a ``Workflow``
    span with one span per operation and one per attempt, exported as each ends, and an
    ``Invocation`` span per invocation beside it. ``view="invocation"`` hangs each
    invocation's operations under its ``Invocation`` span instead. docs/observability.md
    lists every span and attribute.

    Spans go to ``tracer_provider``, by default the global one (which the ADOT Lambda
    layer or your own setup configures); deterministic span ids need the SDK's
    ``TracerProvider``. ``clock`` is where span times come from (wall time by default):
    on the local backend with virtual time, pass the backend's clock (``runner.now``) so
    that spans line up with the times the service records. ``flush=True`` flushes the
    provider when an invocation ends, for a provider without a Lambda extension that
    exports after each invocation.

    >>> tracing = OpenTelemetryPlugin()
    >>> @durable_execution(plugins=[tracing])  # doctest: +SKIP
    ... async def handler(event, ctx): ...
    """

    def __init__(
        self,
        *,
        view: Literal["execution", "invocation"] = "execution",
        tracer_provider: TracerProvider | None = None,
        incoming_context: IncomingContext | None = xray_incoming_context,
        clock: Callable[[], datetime] | None = None,
        workflow_span_name: str = "Workflow",
        flush: bool = False,
        log_correlation: bool = True,
    ) -> None:
        if view not in _VIEWS:
            raise ValueError(
                f"OpenTelemetryPlugin(view={view!r}): choose 'execution' or 'invocation'"
            )
        self.view_name = view
        self._provider = tracer_provider
        self._incoming = incoming_context
        self._clock: Callable[[], int] = time.time_ns if clock is None else (lambda: to_ns(clock()))
        self._workflow_span_name = workflow_span_name
        self._flush = flush
        self._view: View | None = None
        self._invocations: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        if log_correlation:
            add_default_processor(add_trace_ids)

    # -- where spans go ----------------------------------------------------------------------
    def _current_view(self) -> View:
        if self._view is not None:
            return self._view
        provider = self._provider or trace.get_tracer_provider()
        if isinstance(provider, SdkTracerProvider):
            PresetIdGenerator.install(provider)
        tracer = provider.get_tracer("aiodurable", __version__)
        view = _VIEWS[self.view_name](SpanStarter(tracer, self._clock))
        if isinstance(provider, SdkTracerProvider):
            self._view = view  # a proxy provider may still be replaced: ask again
        return view

    def _get(self, arn: str | None) -> Invocation | None:
        # A single dict read is atomic: only the changes (start, end) take the lock.
        return self._invocations.get(arn) if arn else None

    # -- invocations -------------------------------------------------------------------------
    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        """Start the Invocation span, current while the workflow runs."""
        arn = info.execution_arn
        if not arn:
            return
        view = self._current_view()
        spans = view.spans
        incoming = self._incoming(arn) if self._incoming is not None else None
        top_context, top = parent_context(arn, info.execution_start_time, incoming)
        ambient = trace.get_current_span().get_span_context()
        same_trace = ambient.is_valid and ambient.trace_id == top.trace_id
        began = spans.clock()
        span = spans.start(
            "Invocation",
            get_current() if same_trace else top_context,
            {"durable.execution.arn": arn, "durable.invocation.first": info.is_first_invocation},
            at=began,
        )
        invocation = Invocation(arn, top, span, began, info.operations)
        invocation.token = spans.attach(span)
        with self._lock:
            if len(self._invocations) >= _MAX_OPEN_INVOCATIONS:
                self._invocations.pop(next(iter(self._invocations)))
            self._invocations[arn] = invocation

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        """End the Invocation span; when the execution ended, export its Workflow span.

        An invocation that failed without ending the execution (``RETRY``) ends its
        Invocation span with ERROR and leaves the Workflow span to the invocation that
        ends the execution.
        """
        with self._lock:
            inv = self._invocations.pop(info.execution_arn or "", None)
        if inv is None:
            return
        view = self._current_view()
        view.invocation_ending(inv, info)
        now = view.spans.clock()
        for span, _ in inv.user_code.values():  # interrupted user code (suspension)
            if span is not None:
                span.end(now)
        _detach_quietly(inv.token)
        status = info.status
        message = info.error.error_message if info.error else None
        inv.span.set_attribute("durable.invocation.status", status.value)
        _set_status(inv.span, status, message)
        inv.span.end(now)
        if status in (InvocationEndStatus.SUCCEEDED, InvocationEndStatus.FAILED):
            started = info.execution_start_time
            workflow = view.spans.start(
                self._workflow_span_name,
                in_context(inv.top),
                {"durable.execution.arn": inv.arn, "durable.execution.status": status.value},
                span_id=inv.workflow.span_id,
                at=min(to_ns(started), inv.began) if started is not None else inv.began,
            )
            _set_status(workflow, status, message)
            workflow.end(now)
        if self._flush:
            provider = self._provider or trace.get_tracer_provider()
            force_flush = getattr(provider, "force_flush", None)
            if force_flush is not None:
                force_flush()

    # -- operations and user code ------------------------------------------------------------
    def on_operation_start(self, info: OperationStartInfo) -> None:
        """Note the start (execution view) or open the operation's span (invocation view)."""
        inv = self._get(info.execution_arn)
        if inv is not None:
            (self._view or self._current_view()).operation_started(inv, info)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        """Export the operation's span with its outcome."""
        inv = self._get(info.execution_arn)
        if inv is not None:
            (self._view or self._current_view()).operation_ended(inv, info)

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        """Start an attempt span (steps, condition checks) or make the context current."""
        inv = self._get(info.execution_arn)
        if inv is not None:
            (self._view or self._current_view()).user_function_started(inv, info)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        """End the attempt span with the attempt's outcome."""
        inv = self._get(info.execution_arn)
        if inv is not None:
            (self._view or self._current_view()).user_function_ended(inv, info)


def _set_status(span: Span, status: InvocationEndStatus, message: str | None) -> None:
    # SUCCEEDED and PENDING (a clean suspension) are OK; FAILED and RETRY (this
    # invocation failed; the execution goes on) are ERROR.
    if status in (InvocationEndStatus.FAILED, InvocationEndStatus.RETRY):
        span.set_status(StatusCode.ERROR, message or None)
    else:
        span.set_status(StatusCode.OK)


def _detach_quietly(token: object) -> None:
    try:
        detach(token)
    except Exception:  # ended in another context than it started: nothing to undo here
        _logger.debug("Invocation span context not detached", exc_info=True)
