"""Replay-aware structured logging (docs/protocol.md §6.10).

``ctx.logger`` is a structlog logger bound with the execution ARN and, inside
operations, the operation id, name and attempt. Records are dropped while the owning
context replays by one processor, :func:`drop_while_replaying`, so a workflow's log shows
each line once however often the workflow is replayed. The default output is one JSON
object per line with a top-level ``executionArn`` and ``message``: the shape Lambda's
JSON log format and CloudWatch filters expect.

Fields given the standard library's way, ``logger.info("msg", extra={...})``, land at the
top level like keyword fields (:func:`merge_extra`). A standard-library-compatible logger
(``logging.Logger``, Powertools' ``Logger``, anything whose ``info`` takes ``extra=``)
can take the output instead: each record then reaches it as ``logger.info(message,
extra=fields)`` after the replay filter (:func:`to_stdlib_call`), so its own formatting,
handlers and correlation ids apply.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # structlog is imported when the first logger is made (cold start)
    from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = [
    "LogGate",
    "LoggingConfig",
    "ReplaySource",
    "add_default_processor",
    "default_processors",
    "drop_while_replaying",
    "is_stdlib_compatible",
    "make_logger",
    "merge_extra",
    "stdlib_processors",
    "to_stdlib_call",
]

_SOURCE_KEY = "_aiodurable_replay_source"


@dataclass(frozen=True)
class LoggingConfig:
    """How ``ctx.logger`` writes: structlog processors and the logger they feed.

    ``logger`` alone: a standard-library-compatible logger (``logging.Logger``,
    Powertools' ``Logger``, anything whose ``info`` takes ``extra=``) receives each record
    as ``logger.info(message, extra=fields)``; any other (structlog's ``PrintLogger``, the
    default) receives one JSON line. ``processors`` replaces that chain (the replay
    filter stays first).
    """

    processors: list[Processor] | None = None
    logger: Any = None
    #: Log while replaying too (records are otherwise dropped during replay).
    log_during_replay: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class _SuppressingContext(Protocol):
    def _logs_suppressed(self) -> bool: ...


class LogGate:
    """The replay filter's view of a context: its logs, not its replay status."""

    __slots__ = ("_context",)

    def __init__(self, context: _SuppressingContext) -> None:
        self._context = context

    def is_replaying(self) -> bool:
        """Whether the context's records are dropped now."""
        return self._context._logs_suppressed()


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


def merge_extra(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Lift the fields of a standard-library ``extra={...}`` to the top level."""
    extra = event_dict.get("extra")
    if isinstance(extra, Mapping):
        del event_dict["extra"]
        event_dict.update(extra)
    return event_dict


#: Attributes of a ``logging.LogRecord``: ``extra`` may not set them (the standard
#: library raises ``KeyError``), so such fields are passed with a trailing underscore.
_RECORD_ATTRIBUTES = frozenset(
    {
        "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName",
        "levelname", "levelno", "lineno", "message", "module", "msecs", "msg", "name",
        "pathname", "process", "processName", "relativeCreated", "stack_info", "taskName",
        "thread", "threadName",
    }
)  # fmt: skip


def to_stdlib_call(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The last processor for a standard-library-compatible logger: the record becomes
    ``logger.<level>(message, extra=fields)`` (``exc_info`` passed as such)."""
    message = event_dict.pop("event", "")
    kwargs: dict[str, Any] = {}
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        kwargs["exc_info"] = exc_info
    kwargs["extra"] = {
        (f"{key}_" if key in _RECORD_ATTRIBUTES else key): value
        for key, value in event_dict.items()
    }
    return (message,), kwargs


@functools.cache
def _stdlib_compatible_type(cls: type) -> bool:
    import logging

    if issubclass(cls, logging.Logger | logging.LoggerAdapter):
        return True
    info = getattr(cls, "info", None)
    if info is None:
        return False
    try:
        return "extra" in inspect.signature(info).parameters
    except (TypeError, ValueError):
        return False


def is_stdlib_compatible(logger: Any) -> bool:
    """Whether ``logger`` logs the standard library's way: ``info(msg, extra=...)``."""
    cls: type = type(logger)
    return logger is not None and _stdlib_compatible_type(cls)


_stdlib_processors: list[Processor] = []


def stdlib_processors() -> list[Processor]:
    """Replay filter, ``extra`` merge, then ``logger.<level>(message, extra=fields)``."""
    if not _stdlib_processors:
        _stdlib_processors.extend([drop_while_replaying, merge_extra, to_stdlib_call])
    return _stdlib_processors


_default_processors: list[Processor] = []


def default_processors() -> list[Processor]:
    """Replay filter, level, ISO timestamp, exception text, ``message``, JSON line."""
    if not _default_processors:
        import structlog

        _default_processors.extend(
            [
                drop_while_replaying,
                merge_extra,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
                structlog.processors.format_exc_info,
                structlog.processors.EventRenamer("message"),
                structlog.processors.JSONRenderer(sort_keys=False),
            ]
        )
    return _default_processors


def add_default_processor(processor: Processor) -> None:
    """Run ``processor`` in the default chain, right after the replay filter and the
    ``extra`` merge (once).

    For plugins that enrich every record: the OpenTelemetry plugin adds trace and span
    ids this way. A custom ``LoggingConfig.processors`` chain is left as configured.
    """
    chain = default_processors()
    if processor not in chain:
        chain.insert(2, processor)


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
    """A logger whose records pass through ``processors`` (replay filter first).

    Without ``processors`` the chain follows the logger: the standard-library call for a
    standard-library-compatible one (:func:`stdlib_processors`), one JSON line otherwise.
    """
    import structlog

    if processors is not None:
        chain = list(processors)
        if merge_extra not in chain:
            chain.insert(0, merge_extra)
        if drop_while_replaying not in chain:
            chain.insert(0, drop_while_replaying)
    elif is_stdlib_compatible(logger):
        chain = stdlib_processors()
    else:
        chain = default_processors()
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
