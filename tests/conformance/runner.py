"""Run one requirement against one backend and judge it with AWS's own matchers.

What a requirement run does is what AWS's runner does against Lambda: substitute the
requirement's variables, start the execution, complete the callbacks it names as they
appear (after their delays), wait for a terminal state, then match the whole history
with ``EventHistoryMatcher``, the result with the package's result check, and the
execution's log lines (``ExpectedLogs``) with ``CloudWatchLogValidator``. Both backends
run our handlers in this process, so the log lines come from
:data:`~.execution_logs.EXECUTION_LOGS` rather than CloudWatch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aws_durable_execution_conformance_tests.callback import CallbackAction  # type: ignore[import-untyped]
from aws_durable_execution_conformance_tests.cloudwatch import (  # type: ignore[import-untyped]
    CloudWatchLogValidator,
)
from aws_durable_execution_conformance_tests.history import EventHistoryMatcher  # type: ignore[import-untyped]
from aws_durable_execution_conformance_tests.validate import (  # type: ignore[import-untyped]
    _validate_execution_result,
    extract_callback_events,
    find_matching_action,
)
from aws_durable_execution_conformance_tests.variables import PlaceholderContext  # type: ignore[import-untyped]

from .execution_logs import EXECUTION_LOGS
from .requirements import Manifest, Requirement, all_requirements

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"})
#: Give up when the history stops growing for this long (backend time), as AWS's runner.
NO_PROGRESS_TIMEOUT = 30.0


class Backend(Protocol):
    """A durable execution service the suite can run requirements on."""

    name: str
    #: Seconds between two looks at a running execution.
    poll_interval: float

    async def start(self, function_name: str, payload: str) -> str:
        """Start an execution of ``function_name`` with ``payload`` (JSON); its ARN."""
        ...

    async def history(self, arn: str) -> list[dict[str, Any]]:
        """Every history event, as ``GetDurableExecutionHistory`` returns them."""
        ...

    async def execution(self, arn: str) -> dict[str, Any]:
        """``GetDurableExecution``: at least ``Status`` and, once succeeded, ``Result``."""
        ...

    async def complete_callback(self, callback_id: str, action: CallbackAction) -> None:
        """Send the success, failure or heartbeat ``action`` describes."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of backend time pass."""
        ...

    def clock(self) -> float:
        """Backend time in seconds."""
        ...

    def expected_history(
        self, expected: list[dict[str, Any]], actual: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The expected events, relaxed where this backend is known to differ."""
        ...


Verdict = Literal["passed", "failed", "gap"]


@dataclass(frozen=True)
class Outcome:
    requirement: Requirement
    backend: str
    verdict: Verdict
    errors: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"{self.requirement.id} on {self.backend}: {self.verdict}", *self.errors]
        if self.verdict == "failed" and self.history:
            lines.append("actual history:")
            lines.extend(f"  {_brief(event)}" for event in self.history)
        if self.verdict == "failed" and self.logs:
            lines.append("execution log lines:")
            lines.extend(f"  {line}" for line in self.logs)
        return "\n".join(lines)


def _brief(event: dict[str, Any]) -> str:
    details = {k: v for k, v in event.items() if k.endswith("Details")}
    head = " ".join(
        f"{k}={event[k]}" for k in ("EventId", "EventType", "SubType", "Name") if k in event
    )
    return f"{head} {json.dumps(details, default=str)[:300]}"


class _RecordedExecution:
    """What ``_validate_execution_result`` asks a Lambda client for, already fetched."""

    def __init__(self, execution: dict[str, Any]) -> None:
        self._execution = execution

    def get_durable_execution(self, DurableExecutionArn: str) -> dict[str, Any]:
        return self._execution


async def run_requirement(requirement: Requirement, backend: Backend) -> Outcome:
    """Run ``requirement`` on ``backend`` and judge the history and the result."""
    spec = requirement.spec
    context = PlaceholderContext()
    context.resolve_variables(spec.get("Variables"))
    expected_events: list[dict[str, Any]] = spec.get("ExpectedExecutionHistory") or []
    expected_result: dict[str, Any] | None = spec.get("ExpectedResult")
    actions = [CallbackAction.from_dict(raw) for raw in spec.get("CallbackActions") or []]

    payload = json.dumps(context.substitute(spec.get("Input")))
    arn = await backend.start(requirement.function_name, payload)

    errors: list[str] = []
    handled: set[str] = set()
    used: set[int] = set()
    seen_events = 0
    last_progress = backend.clock()
    while True:
        events = await backend.history(arn)
        execution = await backend.execution(arn)
        if execution.get("Status") in TERMINAL:
            break
        if expected_result is None and expected_events:
            # History-only requirements (a wait of an hour) end once the history matches.
            probe = EventHistoryMatcher(context=_copy(context))
            if probe.match(backend.expected_history(expected_events, events), events):
                break
        if len(events) > seen_events:
            seen_events, last_progress = len(events), backend.clock()
        elif backend.clock() - last_progress >= NO_PROGRESS_TIMEOUT:
            errors.append(f"no new history events for {NO_PROGRESS_TIMEOUT:.0f}s")
            break
        for event in extract_callback_events(events, handled):
            callback_id = event["CallbackStartedDetails"]["CallbackId"]
            action, index = find_matching_action(event, actions, used, context)
            if action is None or index is None:
                if actions:
                    errors.append(f"no CallbackAction matches callback {event.get('Name')!r}")
                handled.add(callback_id)
                continue
            used.add(index)
            if action.operation != "heartbeat":
                handled.add(callback_id)
            if action.delay_seconds > 0:
                await backend.sleep(action.delay_seconds)
            resolved = CallbackAction(
                callback_name=action.callback_name,
                operation=action.operation,
                payload=context.substitute(action.payload),
            )
            await backend.complete_callback(callback_id, resolved)
        await backend.sleep(backend.poll_interval)

    events = await backend.history(arn)
    matched = EventHistoryMatcher(context=context).match(
        backend.expected_history(expected_events, events), events
    )
    errors.extend(matched.errors)
    if expected_result:
        execution = await backend.execution(arn)
        errors.extend(
            _validate_execution_result(
                execution_arn=arn,
                expected_result=expected_result,
                lambda_client=_RecordedExecution(execution),
                context=context,
            )
        )
    log_events = EXECUTION_LOGS.events(arn)
    expected_logs: list[dict[str, Any]] | None = spec.get("ExpectedLogs")
    if expected_logs:
        # After the history match: log matchers refer to the ids it bound (``${ID1}``).
        checked = CloudWatchLogValidator().validate(expected_logs, log_events, context=context)
        errors.extend(checked.errors)
    verdict: Verdict = "failed" if errors else "passed"
    logs = [event["message"] for event in log_events]
    return Outcome(requirement, backend.name, verdict, errors, events, logs)


def _copy(context: PlaceholderContext) -> PlaceholderContext:
    """A scratch context, so that a failed probe binds nothing in the real one."""
    scratch = PlaceholderContext()
    for name, value in context.bindings.items():
        scratch.bind(name, value)
    return scratch


async def run_suite(
    backend: Backend,
    requirement_ids: Iterable[str],
    *,
    concurrency: int = 64,
    per_requirement_seconds: float = 240.0,
) -> dict[str, Outcome]:
    """Run the requirements concurrently (at most ``concurrency`` in flight).

    Declared gaps are not run. A requirement that raises or exceeds
    ``per_requirement_seconds`` of
    wall time fails with that as its error.
    """
    manifest = Manifest.load()
    requirements = all_requirements()
    gate = asyncio.Semaphore(concurrency)

    async def one(requirement: Requirement) -> Outcome:
        reason = manifest.gap(requirement.id, backend.name)
        if reason is not None:
            return Outcome(requirement, backend.name, "gap", [reason])
        async with gate:
            try:
                async with asyncio.timeout(per_requirement_seconds):
                    return await run_requirement(requirement, backend)
            except TimeoutError:
                return Outcome(
                    requirement,
                    backend.name,
                    "failed",
                    [f"timed out after {per_requirement_seconds:.0f}s"],
                )
            except Exception as error:
                return Outcome(requirement, backend.name, "failed", [f"{error!r}"])

    ids = list(requirement_ids)
    outcomes = await asyncio.gather(*(one(requirements[rid]) for rid in ids))
    return dict(zip(ids, outcomes, strict=True))
