"""The real local service, driven by hand, with fault injection for the runtime's tests.

:class:`ServiceHarness` is a :class:`~aiodurable.local.LocalBackend` that is never entered:
its scheduler does not run, so nothing is invoked behind the test's back. The test takes
each invocation's event from :meth:`ServiceHarness.event`, runs the handler with
``client=service`` and moves time with :meth:`ServiceHarness.advance`. Every checkpoint
and state call goes to the backend's own service side (token chaining, validation, the
state transitions of docs/protocol.md §2.6, deltas, paging); the harness only records the calls
and injects the faults a test asks for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiodurable import DurableContext, durable_execution
from aiodurable.errors import CheckpointError
from aiodurable.local import LocalBackend, VirtualClock
from aiodurable.local.execution import Execution
from aiodurable.wire import (
    CheckpointResponse,
    ErrorObject,
    ExecutionState,
    Operation,
    OperationStatus,
    OperationUpdate,
)

FUNCTION = "wf"


@durable_execution
async def _driven_by_the_test(event: Any, ctx: DurableContext) -> None:
    raise AssertionError("the harness never invokes by itself; run the handler under test")


@dataclass
class Call:
    token: str
    updates: list[OperationUpdate]


@dataclass(frozen=True)
class ExecutionView:
    """What a test reads of one execution."""

    execution: Execution

    @property
    def operations(self) -> dict[str, Operation]:
        return self.execution.operations

    @property
    def token(self) -> str:
        return self.execution.record.token or ""

    @property
    def done(self) -> bool:
        return not self.execution.running


class _Executions(Mapping[str, ExecutionView]):
    """Every execution of the backend: running ones as it holds them, ended ones as read
    back from its store."""

    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend

    def __getitem__(self, arn: str) -> ExecutionView:
        ex = self._backend._registry.find(arn)
        if ex is None:
            raise KeyError(arn)
        return ExecutionView(ex)

    def __iter__(self) -> Iterator[str]:
        return iter([info.arn for info in self._backend.executions()])

    def __len__(self) -> int:
        return len(self._backend.executions())


class ServiceHarness:
    def __init__(
        self,
        *,
        start: datetime | None = None,
        page_size: int = 1000,
        invoke_targets: Iterable[str] = (),
    ) -> None:
        self.clock = VirtualClock(start or datetime(2026, 1, 1, tzinfo=UTC), auto_advance=False)
        self.backend = LocalBackend(clock=self.clock)
        self.backend.register(FUNCTION, _driven_by_the_test)
        #: Chained-invoke targets: their invokes stay STARTED until complete_invoke().
        for target in invoke_targets:
            self.backend.register(target, _driven_by_the_test)
        self.executions = _Executions(self.backend)
        self.calls: list[Call] = []
        self.state_calls = 0
        self.page_size = page_size
        self.fail_next: list[CheckpointError] = []
        self.revoke_next = False
        #: Crash injection: fail the checkpoint call with this 1-based number, either
        #: before applying it ("before") or after applying it ("after": response lost).
        self.crash_at: int | None = None
        self.crash_mode = "before"

    @property
    def now(self) -> datetime:
        return self.clock.now()

    # -- test controls -------------------------------------------------------------------
    def start(self, payload: str | None = "{}", *, name: str = "run") -> str:
        """A new execution, with a token already issued (as a crashed invocation had)."""
        name = f"{name}-{len(self.executions) + 1}"
        arn = self.backend.start_execution(FUNCTION, payload, name=name).arn
        self.backend.begin_invocation(arn)
        return arn

    def event(self, arn: str, *, first_page: int | None = None) -> dict[str, Any]:
        """The Lambda event of the next invocation, with a fresh token."""
        return self.backend.begin_invocation(arn, first_page_size=first_page)

    def advance(self, seconds: float) -> None:
        self.backend.advance(seconds)

    def operations(self, arn: str) -> list[Operation]:
        return self.backend.operations(arn)

    def complete_callback(
        self,
        arn: str,
        callback_id: str,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> None:
        if error is not None:
            self.backend.send_callback_failure(callback_id, error)
        else:
            self.backend.send_callback_success(callback_id, result)

    def complete_invoke(
        self, arn: str, op_id: str, result: str | None = None, error: ErrorObject | None = None
    ) -> None:
        """The chained invoke ``op_id`` returns (its target runs outside the test)."""
        ex = self.backend._registry.get(arn)
        status = OperationStatus.FAILED if error else OperationStatus.SUCCEEDED
        if not ex.complete_invoke(op_id, status, self.now, result=result, error=error):
            raise KeyError(op_id)
        self.backend._registry.save(ex)

    # -- DurableServiceClient ------------------------------------------------------------
    async def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        *,
        client_token: str | None = None,
    ) -> CheckpointResponse:
        self.calls.append(Call(checkpoint_token, list(updates)))
        if self.fail_next:
            raise self.fail_next.pop(0)
        crash = self.crash_at is not None and len(self.calls) == self.crash_at
        if crash and self.crash_mode == "before":
            raise ConnectionResetError("injected crash before the checkpoint was applied")
        response = await self.backend.checkpoint(
            execution_arn, checkpoint_token, updates, client_token=client_token
        )
        if crash:
            raise ConnectionResetError("injected crash after the checkpoint was applied")
        if self.revoke_next and response.checkpoint_token is not None:
            self.revoke_next = False
            return CheckpointResponse(new_execution_state=response.new_execution_state)
        return response

    async def get_state(
        self, execution_arn: str, checkpoint_token: str, *, marker: str, max_items: int = 1000
    ) -> ExecutionState:
        self.state_calls += 1
        return await self.backend.get_state(
            execution_arn, checkpoint_token, marker=marker, max_items=min(max_items, self.page_size)
        )


async def drive(
    handler: Any,
    service: ServiceHarness,
    arn: str,
    *,
    max_invocations: int = 50,
) -> list[dict[str, Any]]:
    """Invoke until the execution ends, jumping time to the next timer between invocations."""
    outputs: list[dict[str, Any]] = []
    for _ in range(max_invocations):
        output = await handler.run(service.event(arn), client=service)
        outputs.append(output)
        if output["Status"] != "PENDING":
            return outputs
        service.advance(_next_timer(service, arn))
    raise AssertionError(f"execution did not finish in {max_invocations} invocations")


def _next_timer(service: ServiceHarness, arn: str) -> float:
    due: list[datetime] = []
    for op in service.operations(arn):
        if (
            op.status is OperationStatus.STARTED
            and op.wait_details
            and op.wait_details.scheduled_end_timestamp
        ):
            due.append(op.wait_details.scheduled_end_timestamp)
        if (
            op.status is OperationStatus.PENDING
            and op.step_details
            and op.step_details.next_attempt_timestamp
        ):
            due.append(op.step_details.next_attempt_timestamp)
    if not due:
        return 0.0
    return max(0.0, (min(due) - service.now).total_seconds())
