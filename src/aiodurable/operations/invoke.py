"""``ctx.invoke``: call another Lambda function and wait for its result (docs/protocol.md §6.6)."""

from __future__ import annotations

from typing import Any

from aiodurable.errors import InvokeError
from aiodurable.limits import MAX_INVOKE_PAYLOAD_BYTES
from aiodurable.operations.base import (
    OperationIdentity,
    read_operation,
    read_stored,
    serdes_context_of,
)
from aiodurable.runtime.execution import Execution
from aiodurable.serdes import AnySerdes, check_payload_size, to_checkpoint
from aiodurable.wire import ChainedInvokeOptions, OperationAction, OperationStatus, OperationType

__all__ = ["MAX_INVOKE_PAYLOAD_BYTES", "run_invoke"]

_FAILED = (OperationStatus.FAILED, OperationStatus.TIMED_OUT, OperationStatus.STOPPED)


async def run_invoke(
    execution: Execution,
    identity: OperationIdentity,
    function_name: str,
    payload: Any,
    *,
    tenant_id: str | None,
    payload_serdes: AnySerdes,
    result_serdes: AnySerdes,
) -> Any:
    context = serdes_context_of(execution, identity)
    op = read_operation(execution, identity)
    if op is None:
        text, _ = await to_checkpoint(payload_serdes, payload, context)
        check_payload_size(
            text,
            f"the payload of invoke {identity.name or function_name}",
            OperationType.CHAINED_INVOKE,
        )
        await execution.checkpointer.checkpoint(
            identity.update(
                OperationAction.START,
                payload=text,
                chained_invoke_options=ChainedInvokeOptions(
                    function_name=function_name, tenant_id=tenant_id
                ),
            )
        )
        op = read_operation(execution, identity)
    while True:
        status = op.status if op is not None else None
        details = op.chained_invoke_details if op is not None else None
        if status is OperationStatus.SUCCEEDED:
            return await read_stored(
                execution, result_serdes, details.result if details else None, context
            )
        if status in _FAILED:
            raise InvokeError.from_error_object(details.error if details else None)
        await execution.park(watch=identity.id)
        op = read_operation(execution, identity)
