"""Property-based fuzzing of the invocation envelope decoder.

Whatever Lambda hands the handler, decoding either yields an envelope or raises
``InvalidInvocationError`` with a message: never another exception.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aiodurable.errors import InvalidInvocationError
from aiodurable.invocation import decode_invocation
from tests.reliability.fuzz_budget import CASES

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
statuses = st.sampled_from(
    ["STARTED", "PENDING", "READY", "SUCCEEDED", "FAILED", "TIMED_OUT", "bogus", 3, None]
)
types = st.sampled_from(["EXECUTION", "STEP", "WAIT", "CALLBACK", "CONTEXT", "X", None])
timestamps = st.integers(min_value=-(10**15), max_value=10**15) | st.floats() | st.text(max_size=8)

operations = st.fixed_dictionaries(
    {"Id": st.text(max_size=8) | st.integers(), "Type": types, "Status": statuses},
    optional={
        "StartTimestamp": timestamps,
        "EndTimestamp": timestamps,
        "Name": json_values,
        "StepDetails": st.fixed_dictionaries(
            {},
            optional={
                "Attempt": json_values,
                "NextAttemptTimestamp": timestamps,
                "Result": json_values,
            },
        )
        | json_values,
        "WaitDetails": st.fixed_dictionaries({}, optional={"ScheduledEndTimestamp": timestamps})
        | json_values,
    },
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "DurableExecutionArn": st.text(max_size=30) | json_values,
        "CheckpointToken": st.text(max_size=10) | json_values,
        "InitialExecutionState": st.fixed_dictionaries(
            {},
            optional={
                "Operations": st.lists(operations, max_size=4) | json_values,
                "NextMarker": json_values,
            },
        )
        | json_values,
        "UpdatedOperationIds": json_values,
    },
)


def check(event: Any) -> None:
    message = ""
    try:
        decoded = decode_invocation(event)
    except InvalidInvocationError as error:
        message = str(error)
        assert message, "an invalid envelope must be explained"
        return
    assert isinstance(decoded.durable_execution_arn, str)


@settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck))
@given(envelopes | json_values)
def test_decoder_never_crashes(event: Any) -> None:
    check(event)


@settings(max_examples=max(CASES // 20, 50), deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64))
@example(b'"\x80"')  # a JSON string that is not UTF-8 (found by this test)
def test_raw_bytes_and_text_events_are_rejected_cleanly(raw: bytes | str) -> None:
    check(raw)
