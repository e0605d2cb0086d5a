"""``DurableContext``: the object a workflow awaits durable operations on."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar, overload

import structlog
from structlog.typing import Processor

from aiodurable.errors import ValidationError
from aiodurable.operations.base import OperationIdentity
from aiodurable.operations.step import run_step, serdes_for_function
from aiodurable.operations.wait import run_wait, wait_seconds
from aiodurable.replay_logging import make_logger
from aiodurable.retry import RetryPolicy, StepSemantics
from aiodurable.runtime.execution import Execution
from aiodurable.runtime.operation_ids import step_id
from aiodurable.serdes import JsonSerdes, Serdes
from aiodurable.wire import TERMINAL_STATUSES, OperationType

__all__ = ["DurableContext", "LoggingConfig"]

T = TypeVar("T")

_SUB_TYPE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_NAME = re.compile(r"[\x20-\x7e]{1,256}")


@dataclass(frozen=True)
class LoggingConfig:
    """How ``ctx.logger`` writes: structlog processors and the logger they feed."""

    processors: list[Processor] | None = None
    logger: Any = None
    #: Log while replaying too (records are otherwise dropped during replay).
    log_during_replay: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _check_name(name: str | None) -> str | None:
    if not name:
        return None
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"operation name {name!r} is invalid: use 1 to 256 printable ASCII characters"
        )
    return name


def _check_sub_type(sub_type: str | None, default: str) -> str:
    if not sub_type:
        return default
    if not _SUB_TYPE.fullmatch(sub_type):
        raise ValidationError(
            f"sub_type {sub_type!r} is invalid: use 1 to 32 characters of [A-Za-z0-9_-]"
        )
    return sub_type


def _default_name(fn: Callable[..., Any]) -> str | None:
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and name.isidentifier():
        return name
    return None


class DurableContext:
    """Durable operations of one workflow (or of one child context / branch).

    Every operation is assigned its id when it is *called*, so
    ``await asyncio.gather(ctx.step(a), ctx.step(b))`` numbers ``a`` before ``b`` on every
    replay whatever order the tasks run in.
    """

    __slots__ = (
        "_counter",
        "_execution",
        "_logger",
        "_logging",
        "_replaying",
        "id_prefix",
        "parent_id",
    )

    def __init__(
        self,
        execution: Execution,
        *,
        parent_id: str | None = None,
        id_prefix: str | None = None,
        replaying: bool | None = None,
        logging: LoggingConfig | None = None,
    ) -> None:
        self._execution = execution
        self.parent_id = parent_id
        self.id_prefix = id_prefix
        self._counter = 0
        self._replaying = execution.replaying if replaying is None else replaying
        self._logging = logging or LoggingConfig()
        self._logger: structlog.BoundLoggerBase | None = None

    # -- identity and replay -----------------------------------------------------------
    @property
    def execution_arn(self) -> str:
        return self._execution.arn

    def is_replaying(self) -> bool:
        """True while this context re-executes operations that are already recorded."""
        return self._replaying and not self._logging.log_during_replay

    def _next_id(self) -> str:
        self._counter += 1
        return step_id(self.id_prefix, self._counter)

    def _identity(
        self, type_: OperationType, sub_type: str | None, name: str | None
    ) -> OperationIdentity:
        return OperationIdentity(self._next_id(), type_, sub_type, name, self.parent_id)

    async def _tracked(self, identity: OperationIdentity, work: Awaitable[T]) -> T:
        """Track replay status around an operation (PROTOCOL §4.2)."""
        flip_after = False
        if self._replaying:
            op = self._execution.operations.get(identity.id)
            if op is None:
                self._replaying = False
            else:
                terminal = op.status in TERMINAL_STATUSES
                is_step = op.type is OperationType.STEP
                if is_step and not terminal:
                    self._replaying = False
                flip_after = not terminal and not is_step
        try:
            return await work
        finally:
            if flip_after or (
                self._replaying
                and (step_id(self.id_prefix, self._counter + 1) not in self._execution.operations)
            ):
                self._replaying = False

    # -- logging -----------------------------------------------------------------------
    def _make_logger(self, **bindings: Any) -> structlog.BoundLoggerBase:
        config = self._logging
        return make_logger(
            self,
            config.processors,
            config.logger,
            executionArn=self._execution.arn,
            **config.extra,
            **({"parentId": self.parent_id} if self.parent_id else {}),
            **bindings,
        )

    @property
    def logger(self) -> structlog.BoundLoggerBase:
        """A structlog logger that stays silent while this context replays."""
        if self._logger is None:
            self._logger = self._make_logger()
        return self._logger

    # -- step ----------------------------------------------------------------------------
    @overload
    def step(
        self,
        fn: Callable[..., Coroutine[Any, Any, T]],
        *args: Any,
        name: str | None = ...,
        retry: RetryPolicy | None = ...,
        semantics: StepSemantics = ...,
        result_type: type[T] | None = ...,
        serdes: Serdes[T] | None = ...,
        sub_type: str | None = ...,
        **kwargs: Any,
    ) -> Awaitable[T]: ...

    @overload
    def step(
        self,
        fn: Callable[..., T],
        *args: Any,
        name: str | None = ...,
        retry: RetryPolicy | None = ...,
        semantics: StepSemantics = ...,
        result_type: type[T] | None = ...,
        serdes: Serdes[T] | None = ...,
        sub_type: str | None = ...,
        **kwargs: Any,
    ) -> Awaitable[T]: ...

    def step(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY,
        result_type: Any = None,
        serdes: Serdes[Any] | None = None,
        sub_type: str | None = None,
        **kwargs: Any,
    ) -> Awaitable[Any]:
        """Run ``fn(*args, **kwargs)`` as a durable step and return its result.

        ``fn`` may be async (awaited on the loop) or sync (run in a worker thread). Its
        result is checkpointed as JSON and comes back as the same type on replay: the
        type is taken from ``fn``'s return annotation, or from ``result_type``. A failed
        attempt is retried per ``retry`` (default: 6 attempts with exponential backoff);
        once retries are exhausted ``StepError`` is raised, on the live run and on every
        replay alike.

        >>> receipt = await ctx.step(charge, order, name="charge")  # doctest: +SKIP
        """
        if serdes is None:
            serdes = JsonSerdes(result_type) if result_type is not None else serdes_for_function(fn)
        identity = self._identity(
            OperationType.STEP,
            _check_sub_type(sub_type, "Step"),
            _check_name(name) if name is not None else _default_name(fn),
        )
        return self._tracked(
            identity,
            run_step(
                self._execution,
                identity,
                fn,
                args,
                kwargs,
                retry=retry,
                semantics=semantics,
                serdes=serdes,
                logger_factory=self._make_logger,
            ),
        )

    # -- wait ----------------------------------------------------------------------------
    def wait(self, duration: float | timedelta, *, name: str | None = None) -> Awaitable[None]:
        """Suspend the workflow for ``duration`` (whole seconds, at least 1).

        The timer lives in the service: the Lambda invocation ends and the workflow
        resumes in a later invocation, so a 7-day wait costs nothing while it waits.
        """
        seconds = wait_seconds(duration)  # validated before an id is allocated
        identity = self._identity(OperationType.WAIT, "Wait", _check_name(name))
        return self._tracked(identity, run_wait(self._execution, identity, seconds))
