"""The service's size limits and the one way aiodurable measures against them
(docs/protocol.md §2.8).

Every size is **bytes of UTF-8**. A checkpoint payload is measured as the string the
service stores (what the ``Payload`` field decodes to), so the runtime, the in-process
local backend and the local backend behind HTTP all count the same number for the same
value. A whole request is measured as the bytes of its JSON body, escaping included
(a payload of 1,000 quotes is 1,000 bytes of payload but 2,000 bytes of body); the
local backend computes that size by encoding the request, whichever path it came by.

The runtime checks a payload against these limits before it sends it, so an oversized
step result fails the step (a catchable ``StepError``) instead of the whole invocation.
"""

from __future__ import annotations

import msgspec

from aiodurable.wire import OperationType

__all__ = [
    "MAX_ASYNC_INPUT_BYTES",
    "MAX_CALLBACK_RESULT_BYTES",
    "MAX_EXECUTION_OUTPUT_BYTES",
    "MAX_INVOKE_PAYLOAD_BYTES",
    "MAX_OPERATION_PAYLOAD_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "MAX_SYNC_INPUT_BYTES",
    "OFFLOAD_REMEDY",
    "escaped_bytes",
    "payload_bytes",
    "payload_limit",
    "payload_limit_message",
]

#: A payload the service stores for one operation: a step result, a wait-for-condition
#: state, a child context result. The service's message for a step names this number.
MAX_OPERATION_PAYLOAD_BYTES = 262_144
#: ``SendDurableExecutionCallbackSuccess`` ``Result`` (an API blob).
MAX_CALLBACK_RESULT_BYTES = 1_048_576
#: The input of a chained invoke, and the result an invoked execution hands back.
MAX_INVOKE_PAYLOAD_BYTES = 1_048_576
#: An EXECUTION SUCCEED payload (the API model's string limit).
MAX_EXECUTION_OUTPUT_BYTES = 6_291_456
#: The Lambda response of one invocation (the output envelope's JSON).
MAX_RESPONSE_BYTES = 6_291_456
#: Execution input of an asynchronous (``Event``) invoke.
MAX_ASYNC_INPUT_BYTES = 262_144
#: Execution input of a synchronous (``RequestResponse``) invoke.
MAX_SYNC_INPUT_BYTES = 6_291_456
#: The JSON body of one API request (``CheckpointDurableExecution`` …).
MAX_REQUEST_BYTES = 6_291_456

OFFLOAD_REMEDY = (
    "Return a smaller value (a reference to the data rather than the data), or give the "
    "operation an offloading serdes that keeps the value outside the checkpoint: "
    "aiodurable.offload.S3Serdes or aiodurable.offload.FileSystemSerdes "
    "(see docs/large-payloads.md)."
)

_OUTPUT_LIMITS = {
    OperationType.EXECUTION: MAX_EXECUTION_OUTPUT_BYTES,
    OperationType.CHAINED_INVOKE: MAX_INVOKE_PAYLOAD_BYTES,
}


def payload_bytes(text: str) -> int:
    """Size of a payload as the service counts it: bytes of UTF-8."""
    # isascii() reads a flag CPython keeps on every string: no scan, no copy.
    return len(text) if text.isascii() else len(text.encode())


def escaped_bytes(text: str) -> int:
    """Size of ``text`` as a JSON string inside a request or response body: UTF-8 bytes
    after escaping, quotes included (1,000 ``"`` characters are 2,002 bytes)."""
    # Plain printable ASCII with no quote or backslash (the usual case) gains only its
    # two quotes: no need to build the encoded copy.
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return len(msgspec.json.encode(text))


def payload_limit(operation_type: OperationType) -> int:
    """The most bytes an update of ``operation_type`` may carry as its ``Payload``."""
    return _OUTPUT_LIMITS.get(operation_type, MAX_OPERATION_PAYLOAD_BYTES)


def payload_limit_message(operation_type: OperationType) -> str:
    """The service's message for a payload over :func:`payload_limit`."""
    # A chained invoke's payload is the input it sends; every other one is an output.
    direction = "input" if operation_type is OperationType.CHAINED_INVOKE else "output"
    return (
        f"{operation_type.value} {direction} payload size must be less than or equal to "
        f"{payload_limit(operation_type)} bytes."
    )
