"""The execution view: the whole execution as one ``Workflow``-rooted tree.

    Workflow                      (once, when the execution ends; starts when it started)
    ├── <operation>               (once, when the operation ends; linked to the
    │   └── <name> attempt <n>     Invocation it ended in; attempts linked to theirs)
    Invocation, Invocation, ...   (one per invocation, beside the Workflow)

An operation's span is exported by the invocation in which the operation ends, with the
start the service recorded (or the moment it started, when that was in the same
invocation), so a wait that spanned a week is one week-long span. Its id is derived from
the operation id, which is how attempts and child operations in earlier invocations
could already name it as their parent.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext

from aiodurable.otel.spans import (
    Invocation,
    operation_attributes,
    set_outcome,
    span_name,
    to_ns,
)
from aiodurable.otel.view import View
from aiodurable.plugins import OperationEndInfo, OperationStartInfo, UserFunctionStartInfo
from aiodurable.wire import OperationType

__all__ = ["ExecutionView"]


class ExecutionView(View):
    """Operation spans under the Workflow span, exported when the operation ends."""

    def links(self, inv: Invocation) -> list[Link]:
        return [Link(inv.span_link)]

    def operation_parent(self, inv: Invocation, operation_id: str) -> Span | SpanContext:
        return inv.operation(operation_id)

    def parent_context(self, inv: Invocation, operation_id: str) -> Context:
        return inv.operation_context(operation_id)

    def operation_started(self, inv: Invocation, info: OperationStartInfo) -> None:
        # A replayed start (a retry, a pending operation reached again) began in an
        # earlier invocation: the service's start time holds, and None says so.
        with inv.lock:
            if info.operation_id not in inv.started or inv.started[info.operation_id] is None:
                inv.started[info.operation_id] = None if info.is_replayed else self.spans.clock()

    def user_function_started(self, inv: Invocation, info: UserFunctionStartInfo) -> None:
        # A context without a checkpoint of its own (a FLAT branch, a virtual child
        # context) has no operation start: its span starts when its function does.
        if info.operation_type is OperationType.CONTEXT and info.operation_id not in inv.recorded:
            with inv.lock:
                inv.started.setdefault(info.operation_id, self.spans.clock())
        super().user_function_started(inv, info)

    def operation_ended(self, inv: Invocation, info: OperationEndInfo) -> None:
        if info.is_replayed and info.operation_id not in inv.recorded:
            return  # a virtual context run again on replay: exported when it first ended
        now = self.spans.clock()
        with inv.lock:
            seen = info.operation_id in inv.started
            started = inv.started.pop(info.operation_id, None)
        if started is None:
            started = min(now, to_ns(info.start_time)) if info.start_time is not None else now
        # One that ended while the function was suspended (reported when replay reaches
        # it) ended when the service says; otherwise it ends now, after its attempts.
        ended = now
        if not seen and info.operation_id in inv.recorded and info.end_time is not None:
            ended = max(started, min(now, to_ns(info.end_time)))
        parent = inv.operation_context(info.parent_id) if info.parent_id else inv.workflow_parent
        span = self.spans.start(
            span_name(info),
            parent,
            operation_attributes(inv.arn, info, ended=True),
            span_id=inv.operation(info.operation_id).span_id,
            links=self.links(inv),
            at=started,
        )
        inv.forget(info.operation_id)  # its attempts and children have ended
        error = info.error
        set_outcome(span, error is not None, error.error_message if error else None)
        span.end(ended)
