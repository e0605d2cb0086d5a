"""The service client protocol: what the runtime needs from the durable execution service.

Two implementations exist: :class:`aiodurable.service.LambdaServiceClient` (aiobotocore,
the real service or anything speaking its REST routes) and the in-process local backend.
Nothing above this layer knows which one it talks to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aiodurable.wire import CheckpointResponse, ExecutionState, OperationUpdate

__all__ = ["DurableServiceClient"]


@runtime_checkable
class DurableServiceClient(Protocol):
    """``CheckpointDurableExecution`` and ``GetDurableExecutionState`` (docs/protocol.md §5.1).

    Implementations raise :class:`aiodurable.errors.CheckpointError` for every failure,
    with ``retryable`` set per docs/protocol.md §5.9.
    """

    async def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        *,
        client_token: str | None = None,
    ) -> CheckpointResponse:
        """Send ``updates`` with the current token; the response carries the next token
        and the operations that changed."""
        ...

    async def get_state(
        self,
        execution_arn: str,
        checkpoint_token: str,
        *,
        marker: str,
        max_items: int = 1000,
    ) -> ExecutionState:
        """One page of the execution's operations, from ``marker`` on."""
        ...
