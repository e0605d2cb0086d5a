"""``serve`` implements every durable-execution operation of the newest botocore model.

The next operation AWS adds to the service shows up here as a failing test (once the
boto3 virtualenv picks up a botocore that models it), not as a user's
``UnknownOperationException``.
"""

from __future__ import annotations

from typing import Any

import botocore.session  # type: ignore[import-untyped]

from . import Boto3User

#: Added by botocore 1.44; the reason the boto3 virtualenv exists.
NEWEST = {"PauseDurableExecution", "ResumeDurableExecution", "DeleteDurableExecution"}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


def test_serve_answers_every_durable_operation_of_the_newest_model(serve: Any) -> None:
    served = serve()
    with Boto3User(served.endpoint_url) as user:
        model = user.model()
        answers = user.probe()

    # The boto3 virtualenv holds the newest botocore the tests have: newer than ours,
    # and modelling every durable operation ours does.
    ours = botocore.session.get_session().get_service_model("lambda")
    ours_durable = {name for name in ours.operation_names if "DurableExecution" in name}
    assert _version(model["botocore"]) >= _version(botocore.__version__)
    assert ours_durable <= set(model["operations"])
    assert set(model["operations"]) >= NEWEST

    assert sorted(answers) == model["operations"]
    unknown = [name for name, code in answers.items() if code == "UnknownOperationException"]
    assert unknown == [], f"serve does not implement {unknown}"
    # Made-up parameters name no real execution or callback: each answered as the service
    # would (a validation error or not found), never as an unknown route.
    assert set(answers.values()) <= {
        None,
        "ResourceNotFoundException",
        "InvalidParameterValueException",
    }, answers
