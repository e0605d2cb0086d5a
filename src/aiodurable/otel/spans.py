"""What both views share: one invocation's tracing state and how a durable span starts.

Every span is ``INTERNAL`` and carries ``durable.execution.arn``. Operation spans are
named after the operation (or its type when it has no name) and carry
``durable.operation.{id,type,subtype,status,name}``; attempt spans are named
``"<name> attempt <n>"`` and carry ``durable.attempt.{number,outcome}``. Parents and links
that live in other invocations are addressed by their deterministic span ids
(:mod:`aiodurable.otel.ids`), so no span object has to survive an invocation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    set_span_in_context,
)

from aiodurable.otel.ids import PresetIdGenerator, operation_span_id, workflow_span_id
from aiodurable.plugins import OperationInfo, UserFunctionEndInfo, UserFunctionOutcome
from aiodurable.wire import OperationType

__all__ = [
    "Clock",
    "Invocation",
    "SpanStarter",
    "attempt_attributes",
    "end_attributes",
    "operation_attributes",
]

#: Nanoseconds since the epoch, the unit of OpenTelemetry timestamps.
Clock = Callable[[], int]


def to_ns(when: datetime) -> int:
    """A timezone-aware datetime in nanoseconds since the epoch (no float rounding)."""
    seconds = int(when.timestamp())
    return seconds * 1_000_000_000 + when.microsecond * 1000


def in_context(parent: Span | SpanContext) -> Context:
    """A context whose current span is ``parent`` (a span, or the one a context names)."""
    span = parent if isinstance(parent, Span) else NonRecordingSpan(parent)
    return set_span_in_context(span, Context())


@dataclass(eq=False)
class Invocation:
    """One invocation of one execution, as the plugin follows it.

    ``started`` maps the operations that started (or started again) in this invocation
    to the time they did; ``spans`` holds the spans still open (invocation view);
    ``user_code`` the attempt spans and context tokens of running user functions.

    The Workflow's span context is derived once per invocation, an operation's once
    while its attempts and children run (until the operation ends); nothing outlives the
    invocation, which the plugin drops when it ends.
    """

    arn: str
    top: SpanContext  # the incoming parent, or the synthetic root
    span: Span  # the Invocation span
    began: int
    recorded: Mapping[str, Any]  # operations recorded before the invocation, by id
    token: object = None
    started: dict[str, int | None] = field(default_factory=dict)
    spans: dict[str, Span] = field(default_factory=dict)
    user_code: dict[tuple[str, int | None], tuple[Span | None, object]] = field(
        default_factory=dict
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: The Workflow span's context, and a parent context holding it.
    workflow: SpanContext = field(init=False)
    workflow_parent: Context = field(init=False)
    #: The Invocation span's context (what the execution view's spans link to), and a
    #: parent context holding the span.
    span_link: SpanContext = field(init=False)
    span_parent: Context = field(init=False)
    _operations: dict[str, tuple[SpanContext, Context]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.workflow = self.span_context(workflow_span_id(self.arn))
        self.workflow_parent = in_context(self.workflow)
        self.span_link = self.span.get_span_context()
        self.span_parent = in_context(self.span)

    def span_context(self, span_id: int) -> SpanContext:
        """A same-trace span context for a span of this execution."""
        return SpanContext(self.top.trace_id, span_id, False, self.top.trace_flags)

    def operation(self, operation_id: str) -> SpanContext:
        """The span context of the operation's deterministic span."""
        known = self._operations.get(operation_id)
        if known is not None:
            return known[0]
        return self.span_context(operation_span_id(self.arn, operation_id))

    def operation_context(self, operation_id: str) -> Context:
        """A parent context whose current span is the operation's deterministic span;
        kept (with the span context) until :meth:`forget`, as the operation's attempts
        and children start under it."""
        known = self._operations.get(operation_id)
        if known is None:  # a race between threads derives the same values twice: harmless
            context = self.span_context(operation_span_id(self.arn, operation_id))
            known = self._operations[operation_id] = (context, in_context(context))
        return known[1]

    def forget(self, operation_id: str) -> None:
        """Drop what :meth:`operation_context` kept of an operation that ended."""
        self._operations.pop(operation_id, None)


class SpanStarter:
    """Starts spans with a chosen (or random) span id and times from one clock."""

    def __init__(self, tracer: Tracer, clock: Clock) -> None:
        self.tracer = tracer
        self.clock = clock

    def start(
        self,
        name: str,
        parent: Context,
        attributes: dict[str, Any],
        *,
        span_id: int | None = None,
        links: Sequence[Link] = (),
        at: int | None = None,
    ) -> Span:
        """Start span ``name`` under ``parent`` (``span_id``: its id, else a random one)."""
        if span_id is None:  # nothing to preset: the provider's generator draws the id
            return self._start(name, parent, attributes, links, at)
        PresetIdGenerator.preset(span_id)
        try:
            return self._start(name, parent, attributes, links, at)
        finally:  # a preset no span drew (a disabled tracer) must not reach the next span
            PresetIdGenerator.preset(None)

    def _start(
        self,
        name: str,
        parent: Context,
        attributes: dict[str, Any],
        links: Sequence[Link],
        at: int | None,
    ) -> Span:
        return self.tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=links,
            start_time=at if at is not None else self.clock(),
            record_exception=False,
            set_status_on_exception=False,
        )

    def attach(self, span: Span | SpanContext) -> object:
        """Make ``span`` the current span of this task or thread (user code's parent)."""
        current = span if isinstance(span, Span) else NonRecordingSpan(span)
        return otel_context.attach(set_span_in_context(current))


def detach(token: object) -> None:
    """Undo :meth:`SpanStarter.attach`."""
    otel_context.detach(token)  # type: ignore[arg-type]


def span_name(info: OperationInfo) -> str:
    """An operation span's name: the operation's name, else its type."""
    return info.name or info.operation_type.value


def operation_attributes(arn: str, info: OperationInfo, *, ended: bool) -> dict[str, Any]:
    """The ``durable.*`` attributes of an operation span (the attempt count once ended)."""
    attributes: dict[str, Any] = {
        "durable.execution.arn": arn,
        "durable.operation.id": info.operation_id,
        "durable.operation.type": info.operation_type.value,
    }
    if info.sub_type is not None:
        attributes["durable.operation.subtype"] = info.sub_type
    attributes["durable.operation.status"] = info.status.value
    if info.name is not None:
        attributes["durable.operation.name"] = info.name
    if ended and info.operation_type is OperationType.STEP and info.attempt is not None:
        attributes["durable.attempt.number"] = info.attempt  # as end_attributes adds it
    return attributes


def end_attributes(info: OperationInfo) -> dict[str, Any]:
    """What an operation's end adds to its span: the final status and, for steps, the
    number of attempts made."""
    attributes: dict[str, Any] = {"durable.operation.status": info.status.value}
    if info.operation_type is OperationType.STEP and info.attempt is not None:
        attributes["durable.attempt.number"] = info.attempt
    return attributes


def attempt_attributes(arn: str, info: OperationInfo) -> dict[str, Any]:
    """The ``durable.*`` attributes of an attempt span as it starts (the outcome, set at
    its end, is ``durable.attempt.outcome``): the operation's, without its status (an
    attempt is not the operation), and the attempt number."""
    attributes: dict[str, Any] = {
        "durable.execution.arn": arn,
        "durable.operation.id": info.operation_id,
        "durable.operation.type": info.operation_type.value,
    }
    if info.sub_type is not None:
        attributes["durable.operation.subtype"] = info.sub_type
    if info.name is not None:
        attributes["durable.operation.name"] = info.name
    if info.attempt is not None:
        attributes["durable.attempt.number"] = info.attempt
    return attributes


_OK = Status(StatusCode.OK)


def set_outcome(span: Span, failed: bool, message: str | None) -> None:
    """OK, or ERROR with the error's message."""
    if failed:
        span.set_status(StatusCode.ERROR, message or None)
    else:
        span.set_status(_OK)  # one shared (immutable) Status: nothing to build per span


def attempt_failed(info: UserFunctionEndInfo) -> bool:
    return info.outcome is UserFunctionOutcome.FAILED
