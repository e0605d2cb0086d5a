"""The invocation view: what each invocation did, under its own ``Invocation`` span.

    Invocation                           (one per invocation)
    └── <operation>                      (opened when the operation starts or replay
        └── <name> attempt <n>            reaches it; closed when it ends or, still
                                          pending, when the invocation ends: UNSET)
    Workflow                             (once, when the execution ends)

An operation met in several invocations has a span in each. The first has the
operation's deterministic id; the later ones (continuations) link to it. Every
operation and attempt span links to the execution's Workflow span.
"""

from __future__ import annotations

from opentelemetry.trace import Link, Span, SpanContext

from aiodurable.otel.spans import (
    Invocation,
    end_attributes,
    in_context,
    operation_attributes,
    set_outcome,
    span_name,
)
from aiodurable.otel.view import View
from aiodurable.plugins import (
    InvocationEndInfo,
    OperationEndInfo,
    OperationInfo,
    OperationStartInfo,
)

__all__ = ["InvocationView"]


class InvocationView(View):
    """Operation spans under this invocation's span, closed by the invocation's end."""

    def links(self, inv: Invocation) -> list[Link]:
        return [Link(inv.workflow)]

    def operation_parent(self, inv: Invocation, operation_id: str) -> Span | SpanContext:
        with inv.lock:
            span = inv.spans.get(operation_id)
        return span if span is not None else inv.span

    def operation_started(self, inv: Invocation, info: OperationStartInfo) -> None:
        with inv.lock:
            if info.operation_id in inv.spans:
                return  # a retry's new START in the invocation that saw the first one
        continuation = info.is_replayed or info.operation_id in inv.recorded
        self._open(inv, info, continuation)

    def operation_ended(self, inv: Invocation, info: OperationEndInfo) -> None:
        with inv.lock:
            span = inv.spans.pop(info.operation_id, None)
        if span is None:  # it ended while the function was suspended, or never started
            continuation = info.is_replayed or info.operation_id in inv.recorded
            span = self._open(inv, info, continuation, keep=False)
        span.set_attributes(end_attributes(info))
        error = info.error
        set_outcome(span, error is not None, error.error_message if error else None)
        span.end(self.spans.clock())

    def invocation_ending(self, inv: Invocation, info: InvocationEndInfo) -> None:
        # Still pending: the span ends with the invocation, its status left UNSET.
        with inv.lock:
            pending = list(inv.spans.values())
            inv.spans.clear()
        now = self.spans.clock()
        for span in reversed(pending):  # children (opened later) first
            span.end(now)

    def _open(
        self, inv: Invocation, info: OperationInfo, continuation: bool, *, keep: bool = True
    ) -> Span:
        with inv.lock:
            parent = inv.spans.get(info.parent_id) if info.parent_id else None
        links = self.links(inv)
        span_id: int | None = None
        if continuation:
            links.insert(0, Link(inv.operation(info.operation_id)))
        else:
            span_id = inv.operation(info.operation_id).span_id
        span = self.spans.start(
            span_name(info),
            in_context(parent) if parent is not None else inv.span_parent,
            operation_attributes(inv.arn, info, ended=False),
            span_id=span_id,
            links=links,
        )
        if keep:
            with inv.lock:
                inv.spans[info.operation_id] = span
        return span
