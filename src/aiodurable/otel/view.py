"""The part of the plugin's behaviour both views share: attempt spans around user code.

A view decides where operation spans go; the user code an operation runs is handled the
same way in both. A step attempt or wait-for-condition check gets a span named
``"<name> attempt <n>"`` under its operation's span, current while the code runs (so
spans of instrumented libraries nest under it and log records carry its id). A child
context, branch or map item function gets no span of its own: its operation's span is
made current while it runs.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext

from aiodurable.otel.spans import (
    Invocation,
    SpanStarter,
    attempt_attributes,
    attempt_failed,
    detach,
    in_context,
    set_outcome,
)
from aiodurable.plugins import (
    InvocationEndInfo,
    OperationEndInfo,
    OperationStartInfo,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
)
from aiodurable.wire import OperationType

__all__ = ["View"]


class View:
    """Base of the execution and invocation views."""

    def __init__(self, spans: SpanStarter) -> None:
        self.spans = spans

    # -- what a view decides -----------------------------------------------------------------
    def links(self, inv: Invocation) -> list[Link]:
        """The links of every operation and attempt span started in ``inv``."""
        raise NotImplementedError

    def operation_parent(self, inv: Invocation, operation_id: str) -> Span | SpanContext:
        """The span an operation's attempts (and current context) hang under."""
        raise NotImplementedError

    def parent_context(self, inv: Invocation, operation_id: str) -> Context:
        """A context whose current span is :meth:`operation_parent`'s (attempts start in it)."""
        return in_context(self.operation_parent(inv, operation_id))

    def operation_started(self, inv: Invocation, info: OperationStartInfo) -> None:
        """``on_operation_start`` of an operation of ``inv``."""
        raise NotImplementedError

    def operation_ended(self, inv: Invocation, info: OperationEndInfo) -> None:
        """``on_operation_end`` of an operation of ``inv``."""
        raise NotImplementedError

    def invocation_ending(self, inv: Invocation, info: InvocationEndInfo) -> None:
        """Before the Invocation span ends: close what the view left open."""

    # -- shared ------------------------------------------------------------------------------
    def user_function_started(self, inv: Invocation, info: UserFunctionStartInfo) -> None:
        """A step attempt or condition check starts a span; other user code makes its
        operation's span current."""
        span: Span | None = None
        if info.operation_type is OperationType.STEP:
            span = self.spans.start(
                f"{info.name or info.operation_type.value} attempt {info.attempt or 1}",
                self.parent_context(inv, info.operation_id),
                attempt_attributes(inv.arn, info),
                links=self.links(inv),
            )
            token = self.spans.attach(span)
        else:
            token = self.spans.attach(self.operation_parent(inv, info.operation_id))
        with inv.lock:
            inv.user_code[(info.operation_id, info.attempt)] = (span, token)

    def user_function_ended(self, inv: Invocation, info: UserFunctionEndInfo) -> None:
        """End the attempt span with the outcome; restore the context user code ran in.

        An ``INCOMPLETE`` run (suspended, abandoned) restores the context but leaves its
        span open and unmarked: the invocation's end closes it."""
        key = (info.operation_id, info.attempt)
        if info.outcome is UserFunctionOutcome.INCOMPLETE:
            with inv.lock:
                span, token = inv.user_code.get(key, (None, None))
                if key in inv.user_code:
                    inv.user_code[key] = (span, None)
            if token is not None:
                detach(token)
            return
        with inv.lock:
            span, token = inv.user_code.pop(key, (None, None))
        if token is not None:
            detach(token)
        if span is None:
            return
        span.set_attribute("durable.attempt.outcome", info.outcome.value)
        failed = attempt_failed(info)
        set_outcome(span, failed, info.error.error_message if info.error else None)
        span.end(self.spans.clock())
