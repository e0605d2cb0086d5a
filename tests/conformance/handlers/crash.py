"""Simulating a Lambda runtime crash in the middle of a step (CONF 1-17, 1-18, 3-12).

A real handler would call ``os._exit``; in-process we raise ``SystemExit``, which no
durable operation treats as a step failure: the runtime ends the invocation with
``aiodurable.InvocationExitError`` and checkpoints nothing for the interrupted work.
Both backends record that as a failed invocation with ``Runtime.ExitError``, as Lambda
does for an exited process, and invoke again. The set remembers which executions
already crashed once, standing in for the external store (DynamoDB) the requirement's
own handler uses.
"""

from __future__ import annotations

_crashed: set[str] = set()


class RuntimeExit(SystemExit):
    """The Lambda process exits with status 1."""

    def __init__(self) -> None:
        super().__init__(1)


def crash_once(execution_arn: str) -> None:
    """Exit the 'process' the first time this is reached for an execution."""
    if execution_arn not in _crashed:
        _crashed.add(execution_arn)
        raise RuntimeExit
