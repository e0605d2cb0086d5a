"""Run AWS's emulator (``dex-local-runner``) with one fix to its history.

When ``GetDurableExecutionHistory`` renumbers events it rebuilds each one with
``Event.from_event_with_id``, which copies every details member except
``InvocationCompletedDetails``; the requirements assert that member (its ``Error`` after
a crash, its presence everywhere). Renumbering with ``dataclasses.replace`` keeps every
field. Usage: ``python emulator_launcher.py start-server …`` (the CLI's own arguments).
"""

from __future__ import annotations

import dataclasses
import sys

from aws_durable_execution_sdk_python_testing import model
from aws_durable_execution_sdk_python_testing.cli import main


def _with_event_id(cls: type[model.Event], event: model.Event, event_id: int) -> model.Event:
    return dataclasses.replace(event, event_id=event_id)


model.Event.from_event_with_id = classmethod(_with_event_id)  # type: ignore[method-assign,assignment]

if __name__ == "__main__":
    sys.exit(main())
