"""What the kill -9 workers record about each step attempt they run (imported by the
worker scripts, which run with this folder first on ``sys.path``)."""

from __future__ import annotations

import os

from aiodurable import StepContext
from aiodurable.local import LocalBackend
from aiodurable.wire import OperationStatus


def enter_step(
    backend: LocalBackend, arn: str, markers: str, label: str, *, exclusive: bool
) -> int:
    """Note a step attempt starting: a ``violation-`` marker when the step had already
    succeeded, and (``exclusive``) a marker per attempt that may exist only once."""
    step = StepContext.current()
    for op in backend.operations(arn):
        if op.id == step.operation_id and op.status is OperationStatus.SUCCEEDED:
            open(os.path.join(markers, f"violation-{label}"), "a").close()
    if exclusive:
        path = os.path.join(markers, f"{label}-{step.attempt}")
        os.close(os.open(path, os.O_CREAT | os.O_EXCL, 0o600))
    return step.attempt
