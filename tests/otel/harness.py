"""AWS's OpenTelemetry conformance requirements, run on the local backend.

On AWS a requirement deploys a function with the SDK's plugin, exports its spans to a
collector and reads them back. Here, for each requirement and view:

1. its scenario runs on aiodurable's local backend (virtual time that also moves with
   the wall clock, so spans have real durations and a day-long wait costs nothing), and
   the callbacks its ``CallbackActions`` name are completed after their delays;
2. the history and the result are judged with the core suite's own matchers;
3. the spans the plugin gave the OpenTelemetry SDK (an in-memory exporter) are encoded
   as the OTLP protobuf an exporter sends, normalized with the suite's
   ``normalize_otlp_protobuf``, gathered per execution as the suite's backends gather
   them, and judged by the suite's ``validate_trace``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import msgspec
import yaml  # type: ignore[import-untyped]
from aws_durable_execution_conformance_tests.callback import CallbackAction  # type: ignore[import-untyped]
from aws_durable_execution_conformance_tests.history import EventHistoryMatcher  # type: ignore[import-untyped]
from aws_durable_execution_conformance_tests.validate import (  # type: ignore[import-untyped]
    _validate_execution_result,
    extract_callback_events,
    find_matching_action,
)
from aws_durable_execution_conformance_tests.variables import PlaceholderContext  # type: ignore[import-untyped]
from aws_durable_execution_conformance_tests_otel.model import (  # type: ignore[import-untyped]
    TelemetryQuery,
    Trace,
)
from aws_durable_execution_conformance_tests_otel.normalizers import (  # type: ignore[import-untyped]
    normalize_otlp_protobuf,
)
from aws_durable_execution_conformance_tests_otel.validators import (  # type: ignore[import-untyped]
    validate_trace,
)
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiodurable.local import LocalBackend, VirtualClock
from aiodurable.local.clock import truncate_ms
from aiodurable.otel import OpenTelemetryPlugin
from aiodurable.wire import ErrorObject

from .handlers import TARGET_ECHO, TARGET_FAIL, TARGET_LONG_WAIT, Handlers, scenario_handlers

SUITES = ("otel-execution", "otel-invocation", "otel-long-running")
#: The service name the requirements expect on every span (the suite's default).
SERVICE_NAME = "durable-execution-conformance"
#: The long-running suite's delay: 23 hours, as AWS's scheduled long runs use.
LONG_DELAY_SECONDS = 82_800
#: Scenarios aiodurable cannot express, and why (none today).
NOT_APPLICABLE: dict[str, str] = {}
#: DurableConfig.ExecutionTimeout of the functions, as AWS's templates deploy them.
EXECUTION_TIMEOUTS = {"wait-interrupted": 15}
DEFAULT_TIMEOUT = 300
LONG_TIMEOUT = 2 * 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"})


class FollowingClock(VirtualClock):
    """Virtual time that also moves with the wall clock.

    Like :class:`VirtualClock` it jumps to the next timer when nothing runs; between
    jumps it advances with real time, so two spans of one invocation are microseconds
    apart rather than at the same instant. :meth:`precise` is the plugin's clock.
    """

    def __init__(self) -> None:
        super().__init__(auto_advance=False)
        self._offset_ns = 0

    def precise(self) -> datetime:
        ns = time.time_ns() + self._offset_ns
        return datetime.fromtimestamp(ns // 1000 / 1e6, UTC).replace(
            microsecond=ns // 1000 % 1_000_000
        )

    def now(self) -> datetime:
        return truncate_ms(self.precise())

    def advance(self, delta: timedelta | float) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        return self.advance_to(self.precise() + delta)

    def advance_to(self, when: datetime) -> datetime:
        gap = when - self.precise()
        if gap > timedelta(0):
            self._offset_ns += gap // timedelta(microseconds=1) * 1000
        return self.now()


class _Clocks:
    """The clock of the requirement running now (requirements run one at a time)."""

    current: FollowingClock | None = None

    def now(self) -> datetime:
        return self.current.precise() if self.current else datetime.now(UTC)


CLOCKS = _Clocks()
EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


@cache
def handlers(view: str) -> Handlers:
    """The scenario handlers of ``view``, traced into :data:`EXPORTER`."""
    plugin = OpenTelemetryPlugin(view=view, tracer_provider=PROVIDER, clock=CLOCKS.now)  # type: ignore[arg-type]
    return scenario_handlers(plugin)


@dataclass(frozen=True)
class OtelRequirement:
    """One requirement YAML of AWS's OpenTelemetry suites."""

    id: str
    suite: str
    spec: dict[str, Any]

    @property
    def scenario(self) -> str:
        return str(self.spec["Input"]["scenario"])

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """The assertions of each view it is judged in."""
        if self.suite == "otel-execution":
            return {"execution": self.spec["TelemetryAssertions"]}
        if self.suite == "otel-invocation":
            return {"invocation": self.spec["TelemetryAssertions"]}
        return {  # long-running: both views, as AWS's long-running check applies them
            "invocation": self.spec["TelemetryAssertions"],
            "execution": self.spec["ExecutionTelemetryAssertions"],
        }


def _number(requirement_id: str) -> int:
    return int(requirement_id.rsplit("-", 1)[1])


@cache
def requirements() -> dict[str, OtelRequirement]:
    """Every requirement the installed suite ships, by suite and number."""
    root = Path(str(files("aws_durable_execution_conformance_tests_otel") / "test_requirements"))
    found = [
        OtelRequirement(path.stem, suite, yaml.safe_load(path.read_text()))
        for suite in SUITES
        for path in (root / suite).glob("*.yaml")
    ]
    found.sort(key=lambda r: (SUITES.index(r.suite), _number(r.id)))
    return {r.id: r for r in found}


@dataclass
class Outcome:
    requirement: OtelRequirement
    verdict: str  # passed, failed, n/a
    errors: list[str] = field(default_factory=list)

    def report(self) -> str:
        return "\n".join([f"{self.requirement.id}: {self.verdict}", *self.errors])


async def run_requirement(requirement: OtelRequirement) -> Outcome:
    """Run ``requirement`` in each of its views; passed when every view passes."""
    reason = NOT_APPLICABLE.get(requirement.scenario)
    if reason is not None:
        return Outcome(requirement, "n/a", [reason])
    errors: list[str] = []
    for view, assertions in requirement.views.items():
        problems = await _run_view(requirement, view, assertions)
        errors.extend(f"[{view} view] {problem}" for problem in problems)
    return Outcome(requirement, "failed" if errors else "passed", errors)


async def _run_view(
    requirement: OtelRequirement, view: str, assertions: dict[str, Any]
) -> list[str]:
    spec = requirement.spec
    long_running = requirement.suite == "otel-long-running"
    variables = dict(spec.get("Variables") or {})
    if long_running:
        variables["LONG_DELAY_SECONDS"] = LONG_DELAY_SECONDS
    context = PlaceholderContext()
    context.resolve_variables(variables)
    actions = [CallbackAction.from_dict(raw) for raw in spec.get("CallbackActions") or []]
    if long_running:  # the completion arrives once the long delay has passed
        actions = [
            CallbackAction(a.callback_name, a.operation, a.payload, LONG_DELAY_SECONDS)
            for a in actions
        ]
    scenarios = handlers(view)
    function = f"conformance-{requirement.id}"
    functions = {
        function: scenarios[requirement.scenario],
        **{name: scenarios[name] for name in (TARGET_ECHO, TARGET_FAIL, TARGET_LONG_WAIT)},
    }
    timeout = EXECUTION_TIMEOUTS.get(
        requirement.scenario, LONG_TIMEOUT if long_running else DEFAULT_TIMEOUT
    )
    clock = FollowingClock()
    CLOCKS.current = clock
    EXPORTER.clear()
    try:
        async with LocalBackend(clock=clock, functions=functions) as service:
            payload = json.dumps(context.substitute(spec.get("Input")))
            arn = service.start_execution(function, payload, execution_timeout=timeout).arn
            errors = await _drive(service, arn, actions, context)
            events = [msgspec.to_builtins(event) for event in service.history(arn)]
            info = service.describe(arn)
    finally:
        CLOCKS.current = None
    matched = EventHistoryMatcher(context=context).match(
        spec.get("ExpectedExecutionHistory") or [], events
    )
    errors.extend(matched.errors)
    if spec.get("ExpectedResult"):
        errors.extend(
            _validate_execution_result(
                execution_arn=arn,
                expected_result=spec["ExpectedResult"],
                lambda_client=_Recorded({"Status": info.status.value, "Result": info.result}),
                context=context,
            )
        )
    context.bind("EXECUTION_ARN", arn)
    context.bind("SERVICE_NAME", SERVICE_NAME)
    errors.extend(_judge_telemetry(EXPORTER.get_finished_spans(), assertions, context, arn))
    return errors


async def _drive(
    service: LocalBackend,
    arn: str,
    actions: list[CallbackAction],
    context: PlaceholderContext,
) -> list[str]:
    """Run the execution to its end, completing callbacks as the actions say."""
    handled: set[str] = set()
    used: set[int] = set()
    while True:
        with service.clock.skipping():
            service.kick()
            await service.wait_until(
                lambda: service.describe(arn).status.value in TERMINAL or service.stalled
            )
        if service.describe(arn).status.value in TERMINAL:
            return []
        history = [msgspec.to_builtins(event) for event in service.history(arn)]
        pending = extract_callback_events(history, handled)
        if not pending:
            return ["the execution stalled: nothing left to complete it"]
        for event in pending:
            callback_id = event["CallbackStartedDetails"]["CallbackId"]
            handled.add(callback_id)
            action, index = find_matching_action(event, actions, used, context)
            if action is None:
                return [f"no CallbackAction matches callback {event.get('Name')!r}"]
            used.add(index)
            service.advance(action.delay_seconds)
            _complete(service, callback_id, action, context)


def _complete(
    service: LocalBackend, callback_id: str, action: CallbackAction, context: PlaceholderContext
) -> None:
    payload = context.substitute(action.payload)
    if action.operation == "success":
        service.send_callback_success(
            callback_id, None if payload is None else json.dumps(payload).encode()
        )
    elif action.operation == "failure":
        fields = payload or {}
        service.send_callback_failure(
            callback_id,
            ErrorObject(
                error_type=fields.get("ErrorType"),
                error_message=fields.get("ErrorMessage"),
                error_data=fields.get("ErrorData"),
            ),
        )
    else:
        service.send_callback_heartbeat(callback_id)


class _Recorded:
    """What ``_validate_execution_result`` asks a Lambda client for, already fetched."""

    def __init__(self, execution: dict[str, Any]) -> None:
        self._execution = execution

    def get_durable_execution(self, DurableExecutionArn: str) -> dict[str, Any]:
        return self._execution


def traces_of(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> list[Trace]:
    """The spans as the suite's model: OTLP protobuf, through the suite's normalizer."""
    if not spans:
        return []
    return list(normalize_otlp_protobuf(encode_spans(list(spans))))


def correlated_trace(traces: list[Trace], arn: str, arns: tuple[str, ...]) -> Trace | None:
    """The trace a collector backend returns for ``arn``: the one holding its Workflow
    (else the first naming it), plus every trace naming one of ``arns``."""

    def named(trace: Trace) -> set[str]:
        return {
            str(s.attributes["durable.execution.arn"])
            for s in trace.spans
            if "durable.execution.arn" in s.attributes
        }

    matching = [t for t in traces if arn in named(t)]
    if not matching:
        return None
    primary = next(
        (
            t
            for t in matching
            if any(
                s.name == "Workflow" and s.attributes.get("durable.execution.arn") == arn
                for s in t.spans
            )
        ),
        matching[0],
    )
    others = [t for t in traces if t is not primary and named(t) & set(arns)]
    spans = tuple(s for t in (primary, *others) for s in t.spans)
    return Trace(trace_id=primary.trace_id, spans=spans)


def _judge_telemetry(
    spans: tuple[ReadableSpan, ...],
    raw_assertions: dict[str, Any],
    context: PlaceholderContext,
    arn: str,
) -> list[str]:
    assertions = context.substitute(raw_assertions)
    allowed = assertions.get("allowed_execution_arns") or ()
    arns = tuple(dict.fromkeys((arn, *([allowed] if isinstance(allowed, str) else allowed))))
    now = datetime.now(UTC)
    query = TelemetryQuery(
        execution_arn=arn,
        service_name=SERVICE_NAME,
        started_at=now,
        ended_at=now,
        execution_arns=arns,
    )
    trace = correlated_trace(traces_of(spans), arn, arns)
    if trace is None:
        return ["OpenTelemetry: no span names the execution"]
    return [f"OpenTelemetry: {error}" for error in validate_trace(trace, assertions, query)]
