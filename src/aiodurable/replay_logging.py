"""Replay-aware structured logging (PROTOCOL §6.10).

``ctx.logger`` is a structlog logger bound with the execution ARN and, inside
operations, the operation id, name and attempt. Records are dropped while the owning
context replays by one processor, :func:`drop_while_replaying`, so a workflow's log shows
each line once however often the workflow is replayed. The default output is one JSON
object per line with a top-level ``executionArn`` and ``message``: the shape Lambda's
JSON log format and CloudWatch filters expect.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Protocol

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["ReplaySource", "drop_while_replaying", "make_logger", "DEFAULT_PROCESSORS"]

_SOURCE_KEY = "_aiodurable_replay_source"


class ReplaySource(Protocol):
    """Anything that knows whether its records should be suppressed right now."""

    def is_replaying(self) -> bool: ...


def drop_while_replaying(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """Drop the record if the context that logs it is replaying."""
    source = event_dict.pop(_SOURCE_KEY, None)
    if source is not None and source.is_replaying():
        raise structlog.DropEvent
    return event_dict


DEFAULT_PROCESSORS: list[Processor] = [
    drop_while_replaying,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    structlog.processors.format_exc_info,
    structlog.processors.EventRenamer("message"),
    structlog.processors.JSONRenderer(sort_keys=False),
]


def make_logger(
    source: ReplaySource | None,
    processors: list[Processor] | None = None,
    logger: Any = None,
    **bindings: Any,
) -> structlog.BoundLoggerBase:
    """A logger whose records pass through ``processors`` (replay filter first)."""
    chain = list(processors) if processors is not None else DEFAULT_PROCESSORS
    if drop_while_replaying not in chain:
        chain.insert(0, drop_while_replaying)
    context: MutableMapping[str, Any] = dict(bindings)
    if source is not None:
        context[_SOURCE_KEY] = source
    bound = structlog.wrap_logger(
        logger if logger is not None else structlog.PrintLogger(),
        processors=chain,
        wrapper_class=structlog.BoundLogger,
        context_class=dict,
    )
    return bound.bind(**context)  # type: ignore[no-any-return]
