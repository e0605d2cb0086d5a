"""Pieces every operation shares: its identity, the updates it writes and how it reads
a stored value back."""

from __future__ import annotations

from typing import Any

from aiodurable.errors import PayloadUnavailableError
from aiodurable.runtime.execution import Execution
from aiodurable.serdes import AnySerdes, SerdesContext, from_checkpoint
from aiodurable.wire import Operation
from aiodurable.wire.identity import OperationIdentity

__all__ = ["OperationIdentity", "read_operation", "read_stored", "serdes_context_of"]


def read_operation(execution: Execution, identity: OperationIdentity) -> Operation | None:
    """The stored checkpoint of this operation, identity-checked."""
    return execution.checkpoint_for(
        identity.id, identity.type, identity.sub_type, identity.name, identity.parent_id
    )


def serdes_context_of(execution: Execution, identity: OperationIdentity) -> SerdesContext:
    return SerdesContext(operation_id=identity.id, durable_execution_arn=execution.arn)


async def read_stored(
    execution: Execution, serdes: AnySerdes, text: str | None, context: SerdesContext
) -> Any:
    """The value an operation stored, decoded through ``serdes`` (``None``: no payload).

    A store that cannot be read for now ends the invocation, not the execution: the
    failure is made fatal before it is raised, so workflow code that catches it cannot
    carry on down another path than the one the checkpoints record.
    """
    try:
        return await from_checkpoint(serdes, text, context)
    except PayloadUnavailableError as exc:
        execution.fail(exc)
        raise
