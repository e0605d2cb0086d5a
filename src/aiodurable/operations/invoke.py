"""``ctx.invoke``: call another Lambda function and wait for its result (docs/protocol.md §6.6)."""

from __future__ import annotations

from typing import Any

from aiodurable.errors import InvokeError
from aiodurable.limits import MAX_INVOKE_PAYLOAD_BYTES
from aiodurable.operations.base import DurableOperation, OperationIdentity
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.serdes import AnySerdes, check_payload_size, to_checkpoint
from aiodurable.wire import (
    ChainedInvokeOptions,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
)

__all__ = ["MAX_INVOKE_PAYLOAD_BYTES", "InvokeOperation"]

_FAILED = (OperationStatus.FAILED, OperationStatus.TIMED_OUT, OperationStatus.STOPPED)


class InvokeOperation(DurableOperation[Any]):
    """Another Lambda function called with a payload: START, then park until it ended."""

    __slots__ = ("function_name", "payload", "payload_serdes", "result_serdes", "tenant_id")

    ENDED = (OperationStatus.SUCCEEDED, *_FAILED)
    BEGINS = True

    def __init__(
        self,
        execution: InvocationState,
        identity: OperationIdentity,
        function_name: str,
        payload: Any,
        *,
        tenant_id: str | None,
        payload_serdes: AnySerdes,
        result_serdes: AnySerdes,
    ) -> None:
        super().__init__(execution, identity)
        self.function_name = function_name
        self.payload = payload
        self.tenant_id = tenant_id
        self.payload_serdes = payload_serdes
        self.result_serdes = result_serdes

    async def begin(self) -> Operation | None:
        identity = self.identity
        text, _ = await to_checkpoint(self.payload_serdes, self.payload, self.serdes_context())
        check_payload_size(
            text,
            f"the payload of invoke {identity.name or self.function_name}",
            OperationType.CHAINED_INVOKE,
        )
        options = ChainedInvokeOptions(function_name=self.function_name, tenant_id=self.tenant_id)
        await self.execution.checkpointer.checkpoint(
            identity.update(OperationAction.START, payload=text, chained_invoke_options=options)
        )
        return self.read()

    async def outcome(self, op: Operation) -> Any:
        details = op.chained_invoke_details
        if op.status is OperationStatus.SUCCEEDED:
            return await self.read_stored(self.result_serdes, details.result if details else None)
        raise InvokeError.from_error_object(details.error if details else None)
