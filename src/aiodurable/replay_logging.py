"""Replay-aware structured logging (docs/protocol.md §6.10).

``ctx.logger`` is a structlog logger bound with the execution ARN and, inside
operations, the operation id, name and attempt. Records are dropped while the owning
context replays by one processor, :func:`drop_while_replaying`, so a workflow's log shows
each line once however often the workflow is replayed. The default output is one JSON
object per line with a top-level ``executionArn`` and ``message``: the shape Lambda's
JSON log format and CloudWatch filters expect.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # structlog is imported when the first logger is made (cold start)
    from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = [
    "ReplaySource",
    "add_default_processor",
    "default_processors",
    "drop_while_replaying",
    "make_logger",
]

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
        import structlog

        raise structlog.DropEvent
    return event_dict


_default_processors: list[Processor] = []


def default_processors() -> list[Processor]:
    """Replay filter, level, ISO timestamp, exception text, ``message``, JSON line."""
    if not _default_processors:
        import structlog

        _default_processors.extend(
            [
                drop_while_replaying,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
                structlog.processors.format_exc_info,
                structlog.processors.EventRenamer("message"),
                structlog.processors.JSONRenderer(sort_keys=False),
            ]
        )
    return _default_processors


def add_default_processor(processor: Processor) -> None:
    """Run ``processor`` in the default chain, right after the replay filter (once).

    For plugins that enrich every record: the OpenTelemetry plugin adds trace and span
    ids this way. A custom ``LoggingConfig.processors`` chain is left as configured.
    """
    chain = default_processors()
    if processor not in chain:
        chain.insert(1, processor)


_wrappers: list[Any] = []


def _wrapper_class() -> Any:
    """structlog's level-filtering logger (every level passes; filtering is ours)."""
    if not _wrappers:
        import structlog

        _wrappers.append(structlog.make_filtering_bound_logger(0))
    return _wrappers[0]


def make_logger(
    source: ReplaySource | None,
    processors: list[Processor] | None = None,
    logger: Any = None,
    **bindings: Any,
) -> FilteringBoundLogger:
    """A logger whose records pass through ``processors`` (replay filter first)."""
    import structlog

    chain = list(processors) if processors is not None else default_processors()
    if drop_while_replaying not in chain:
        chain.insert(0, drop_while_replaying)
    context: MutableMapping[str, Any] = dict(bindings)
    if source is not None:
        context[_SOURCE_KEY] = source
    bound = structlog.wrap_logger(
        logger if logger is not None else structlog.PrintLogger(),
        processors=chain,
        wrapper_class=_wrapper_class(),
        context_class=dict,
    )
    return bound.bind(**context)  # type: ignore[no-any-return]
