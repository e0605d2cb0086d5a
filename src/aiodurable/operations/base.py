"""Pieces every operation shares: its identity, the updates it writes and how it reads
a stored value back."""

from __future__ import annotations

from typing import Any

import msgspec

from aiodurable.errors import PayloadUnavailableError
from aiodurable.runtime.execution import Execution
from aiodurable.serdes import AnySerdes, SerdesContext, from_checkpoint
from aiodurable.wire import Operation, OperationAction, OperationType, OperationUpdate

__all__ = ["OperationIdentity", "read_stored"]


class OperationIdentity(msgspec.Struct, frozen=True):
    """Id, type, sub-type, name and parent: repeated on every update (docs/protocol.md §2.2)."""

    id: str
    type: OperationType
    sub_type: str | None
    name: str | None
    parent_id: str | None

    def update(self, action: OperationAction, **fields: Any) -> OperationUpdate:
        return OperationUpdate(
            id=self.id,
            type=self.type,
            action=action,
            parent_id=self.parent_id,
            name=self.name,
            sub_type=self.sub_type,
            **fields,
        )

    def __str__(self) -> str:
        kind = (self.sub_type or self.type.value).lower()
        named = f" {self.name!r}" if self.name else ""
        return f"{kind}{named} (operation {self.id})"

    def read(self, execution: Execution) -> Operation | None:
        """The stored checkpoint of this operation, identity-checked."""
        return execution.checkpoint_for(
            self.id, self.type, self.sub_type, self.name, self.parent_id
        )

    def serdes_context(self, execution: Execution) -> SerdesContext:
        return SerdesContext(operation_id=self.id, durable_execution_arn=execution.arn)


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
