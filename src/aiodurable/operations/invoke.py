"""``ctx.invoke``: call another Lambda function and wait for its result (PROTOCOL §6.6)."""

from __future__ import annotations

from typing import Any

from aiodurable.errors import InvokeError, ResultTooLargeError
from aiodurable.operations.base import OperationIdentity
from aiodurable.runtime.execution import Execution
from aiodurable.serdes import Serdes, deserialize, serialize
from aiodurable.wire import ChainedInvokeOptions, OperationAction, OperationStatus

__all__ = ["MAX_INVOKE_PAYLOAD_BYTES", "run_invoke"]

MAX_INVOKE_PAYLOAD_BYTES = 1024 * 1024
_FAILED = (OperationStatus.FAILED, OperationStatus.TIMED_OUT, OperationStatus.STOPPED)


async def run_invoke(
    execution: Execution,
    identity: OperationIdentity,
    function_name: str,
    payload: Any,
    *,
    tenant_id: str | None,
    payload_serdes: Serdes[Any],
    result_serdes: Serdes[Any],
) -> Any:
    context = identity.serdes_context(execution)
    op = identity.read(execution)
    if op is None:
        text = serialize(payload_serdes, payload, context)
        if text is not None and len(text.encode()) > MAX_INVOKE_PAYLOAD_BYTES:
            raise ResultTooLargeError(
                f"the payload of invoke {identity.name or function_name} is "
                f"{len(text.encode())} bytes; chained invokes accept at most "
                f"{MAX_INVOKE_PAYLOAD_BYTES} bytes. Pass a reference (e.g. an S3 key) instead."
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
        op = identity.read(execution)
    while True:
        status = op.status if op is not None else None
        details = op.chained_invoke_details if op is not None else None
        if status is OperationStatus.SUCCEEDED:
            return deserialize(result_serdes, details.result if details else None, context)
        if status in _FAILED:
            raise InvokeError.from_error_object(details.error if details else None)
        await execution.park(watch=identity.id)
        op = identity.read(execution)
