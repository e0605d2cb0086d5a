"""``DurableContext``: the object a workflow awaits durable operations on."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from aiodurable.errors import (
    CallbackError,
    CallbackSubmitterError,
    ChildContextError,
    StepError,
    ValidationError,
    registered_error_class,
)
from aiodurable.operations.base import OperationIdentity
from aiodurable.operations.batch import (
    BatchResult,
    BranchSpec,
    CompletionConfig,
    NamedBranch,
    Nesting,
    run_batch,
    validate_batch,
)
from aiodurable.operations.callback import (
    Callback,
    callback_result_serdes,
    callback_timeout_seconds,
    start_callback,
)
from aiodurable.operations.child import run_child
from aiodurable.operations.invoke import run_invoke
from aiodurable.operations.step import run_step, serdes_for_function
from aiodurable.operations.wait import run_wait, wait_seconds
from aiodurable.operations.wait_for_condition import (
    WaitDecision,
    WaitStrategy,
    run_wait_for_condition,
)
from aiodurable.replay_logging import make_logger
from aiodurable.retry import RetryPolicy, StepSemantics
from aiodurable.runtime.execution import Execution
from aiodurable.runtime.operation_ids import step_id
from aiodurable.serdes import ANY_JSON, JsonSerdes, Serdes
from aiodurable.wire import TERMINAL_STATUSES, OperationType

if TYPE_CHECKING:
    from uuid import UUID

    from structlog.typing import FilteringBoundLogger, Processor

__all__ = ["DurableContext", "LoggingConfig"]

T = TypeVar("T")
S = TypeVar("S")
I = TypeVar("I")  # noqa: E741

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


_valid_names: set[str] = set()


def _check_name(name: str | None) -> str | None:
    if not name:
        return None
    if name in _valid_names:
        return name
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"operation name {name!r} is invalid: use 1 to 256 printable ASCII characters"
        )
    if len(_valid_names) < 10_000:  # names come from code: a small, fixed set
        _valid_names.add(name)
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
    if name.__class__ is str and (name in _valid_names or name.isidentifier()):
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
        "_peeked",
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
        self._peeked: tuple[int, str] | None = None
        self._replaying = execution.replaying if replaying is None else replaying
        self._logging = logging or LoggingConfig()
        self._logger: FilteringBoundLogger | None = None

    # -- identity and replay -----------------------------------------------------------
    @property
    def execution_arn(self) -> str:
        """The ARN of the durable execution this context belongs to."""
        return self._execution.arn

    def is_replaying(self) -> bool:
        """True while this context re-executes operations that are already recorded."""
        return self._replaying and not self._logging.log_during_replay

    def _next_id(self) -> str:
        self._counter += 1
        peeked = self._peeked
        if peeked is not None and peeked[0] == self._counter:
            return peeked[1]
        return step_id(self.id_prefix, self._counter)

    def _peek_id(self) -> str:
        """The id the next operation will get (computed once, reused by ``_next_id``)."""
        counter = self._counter + 1
        peeked = self._peeked
        if peeked is None or peeked[0] != counter:
            peeked = self._peeked = (counter, step_id(self.id_prefix, counter))
        return peeked[1]

    def _identity(
        self, type_: OperationType, sub_type: str | None, name: str | None
    ) -> OperationIdentity:
        return OperationIdentity(self._next_id(), type_, sub_type, name, self.parent_id)

    def _tracked(self, identity: OperationIdentity, work: Awaitable[T]) -> Awaitable[T]:
        """Track replay status around an operation (PROTOCOL §4.2).

        New work needs no tracking (the status only moves from REPLAY to NEW), so outside
        replay the operation's own coroutine is returned as it is.
        """
        if not self._replaying:
            return work
        operations = self._execution.operations
        op = operations.get(identity.id)
        if op is None:
            self._replaying = False  # the replay frontier: new code from here on
            return work
        if op.type is OperationType.STEP:
            if op.status not in TERMINAL_STATUSES:
                self._replaying = False  # the step's body will really run
            elif self._peek_id() not in operations:
                # A finished step replays without running code or checkpointing, so the
                # status after it is already known.
                self._replaying = False
            return work
        return self._replay_tracked(op.status in TERMINAL_STATUSES, work)

    async def _replay_tracked(self, terminal: bool, work: Awaitable[T]) -> T:
        try:
            return await work
        finally:
            if not terminal or self._peek_id() not in self._execution.operations:
                self._replaying = False

    # -- logging -----------------------------------------------------------------------
    def _make_logger(self, **bindings: Any) -> FilteringBoundLogger:
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
    def logger(self) -> FilteringBoundLogger:
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

    # -- child contexts ------------------------------------------------------------------
    def _child(self, parent_id: str | None, id_prefix: str, replaying: bool) -> DurableContext:
        return DurableContext(
            self._execution,
            parent_id=parent_id,
            id_prefix=id_prefix,
            replaying=self._replaying and replaying,
            logging=self._logging,
        )

    def run_in_child_context(
        self,
        fn: Callable[[DurableContext], Awaitable[T]],
        *,
        name: str | None = None,
        sub_type: str | None = None,
        result_type: type[T] | None = None,
        serdes: Serdes[T] | None = None,
        summary: Callable[[T], str] | None = None,
    ) -> Awaitable[T]:
        """Run ``fn(child_ctx)`` as one checkpointed unit and return its result.

        Its operations are recorded under the child; once it succeeded, replay returns
        the stored result without running ``fn`` again (results over 256 KiB are rebuilt
        by replaying the child's operations instead). A failure raises
        ``ChildContextError`` whose ``error_type`` names what escaped ``fn``.
        """
        identity = self._identity(
            OperationType.CONTEXT,
            _check_sub_type(sub_type, "RunInChildContext"),
            _check_name(name) if name is not None else _default_name(fn),
        )
        op_id = identity.id
        return self._tracked(
            identity,
            run_child(
                self._execution,
                identity,
                fn,
                lambda replaying: self._child(op_id, op_id, replaying),
                serdes=serdes or (JsonSerdes(result_type) if result_type else ANY_JSON),
                summary=summary,
            ),
        )

    # -- callbacks -----------------------------------------------------------------------
    @overload
    def create_callback(
        self,
        *,
        name: str | None = ...,
        timeout: float | timedelta | None = ...,
        heartbeat_timeout: float | timedelta | None = ...,
        result_type: None = ...,
        serdes: None = ...,
        sub_type: str | None = ...,
    ) -> Awaitable[Callback[str]]: ...

    @overload
    def create_callback(
        self,
        *,
        name: str | None = ...,
        timeout: float | timedelta | None = ...,
        heartbeat_timeout: float | timedelta | None = ...,
        result_type: type[T],
        serdes: Serdes[T] | None = ...,
        sub_type: str | None = ...,
    ) -> Awaitable[Callback[T]]: ...

    @overload
    def create_callback(
        self,
        *,
        name: str | None = ...,
        timeout: float | timedelta | None = ...,
        heartbeat_timeout: float | timedelta | None = ...,
        result_type: None = ...,
        serdes: Serdes[T],
        sub_type: str | None = ...,
    ) -> Awaitable[Callback[T]]: ...

    def create_callback(
        self,
        *,
        name: str | None = None,
        timeout: float | timedelta | None = None,
        heartbeat_timeout: float | timedelta | None = None,
        result_type: Any = None,
        serdes: Serdes[Any] | None = None,
        sub_type: str | None = None,
    ) -> Awaitable[Callback[Any]]:
        """Create a callback an external system completes by its ``callback_id``.

        >>> callback = await ctx.create_callback(name="approval", timeout=3600)  # doctest: +SKIP
        >>> await notify_approver(callback.callback_id)                          # doctest: +SKIP
        >>> decision = await callback.result()                                   # doctest: +SKIP
        """
        timeout_s = callback_timeout_seconds(timeout, "timeout")
        heartbeat_s = callback_timeout_seconds(heartbeat_timeout, "heartbeat_timeout")
        identity = self._identity(
            OperationType.CALLBACK, _check_sub_type(sub_type, "Callback"), _check_name(name)
        )
        return self._tracked(
            identity,
            start_callback(
                self._execution,
                identity,
                timeout_s,
                heartbeat_s,
                callback_result_serdes(result_type, serdes),
            ),
        )

    @overload
    def wait_for_callback(
        self,
        submitter: Callable[[str], Any],
        *,
        name: str | None = ...,
        timeout: float | timedelta | None = ...,
        heartbeat_timeout: float | timedelta | None = ...,
        retry: RetryPolicy | None = ...,
        result_type: None = ...,
        serdes: None = ...,
    ) -> Awaitable[str]: ...

    @overload
    def wait_for_callback(
        self,
        submitter: Callable[[str], Any],
        *,
        name: str | None = ...,
        timeout: float | timedelta | None = ...,
        heartbeat_timeout: float | timedelta | None = ...,
        retry: RetryPolicy | None = ...,
        result_type: type[T],
        serdes: Serdes[T] | None = ...,
    ) -> Awaitable[T]: ...

    @overload
    def wait_for_callback(
        self,
        submitter: Callable[[str], Any],
        *,
        name: str | None = ...,
        timeout: float | timedelta | None = ...,
        heartbeat_timeout: float | timedelta | None = ...,
        retry: RetryPolicy | None = ...,
        result_type: None = ...,
        serdes: Serdes[T],
    ) -> Awaitable[T]: ...

    def wait_for_callback(
        self,
        submitter: Callable[[str], Any],
        *,
        name: str | None = None,
        timeout: float | timedelta | None = None,
        heartbeat_timeout: float | timedelta | None = None,
        retry: RetryPolicy | None = None,
        result_type: Any = None,
        serdes: Serdes[Any] | None = None,
    ) -> Awaitable[Any]:
        """Create a callback, hand its id to ``submitter`` (run as a step), and wait for
        the result. Raises the callback's own error, or ``CallbackSubmitterError`` when
        the submitter failed after its retries."""
        name = _check_name(name) if name is not None else _default_name(submitter)
        callback_timeout_seconds(timeout, "timeout")
        callback_timeout_seconds(heartbeat_timeout, "heartbeat_timeout")
        result_serdes = callback_result_serdes(result_type, serdes)

        async def body(child: DurableContext) -> Any:
            callback = await child.create_callback(
                name=f"{name} create callback id" if name else "create callback id",
                timeout=timeout,
                heartbeat_timeout=heartbeat_timeout,
                serdes=result_serdes,
            )
            await child.step(
                submitter,
                callback.callback_id,
                name=f"{name} submitter" if name else "submitter",
                retry=retry,
                serdes=ANY_JSON,
            )
            return await callback.result()

        identity = self._identity(OperationType.CONTEXT, "WaitForCallback", name)
        op_id = identity.id
        return self._tracked(
            identity,
            self._unwrap_callback_error(
                run_child(
                    self._execution,
                    identity,
                    body,
                    lambda replaying: self._child(op_id, op_id, replaying),
                    serdes=JsonSerdes(result_type) if result_type else ANY_JSON,
                    summary=None,
                )
            ),
        )

    @staticmethod
    async def _unwrap_callback_error(work: Awaitable[T]) -> T:
        try:
            return await work
        except ChildContextError as exc:
            cls = registered_error_class(exc.error_type)
            if cls is not None and issubclass(cls, CallbackError):
                raise cls(
                    exc.message,
                    error_type=exc.error_type,
                    error_data=exc.error_data,
                    stack_trace=exc.stack_trace,
                ) from None
            if cls is StepError:
                raise CallbackSubmitterError(
                    exc.message,
                    error_type=exc.error_type,
                    error_data=exc.error_data,
                    stack_trace=exc.stack_trace,
                ) from exc
            raise

    # -- invoke --------------------------------------------------------------------------
    def invoke(
        self,
        function_name: str,
        payload: Any = None,
        *,
        name: str | None = None,
        tenant_id: str | None = None,
        result_type: type[T] | None = None,
        payload_serdes: Serdes[Any] | None = None,
        result_serdes: Serdes[T] | None = None,
    ) -> Awaitable[Any]:
        """Invoke another Lambda function (durable or not) and return its result.

        The workflow suspends while the target runs; a failure of the target raises
        ``InvokeError`` whose ``error_type`` is the target's.
        """
        if not function_name:
            raise ValidationError("invoke needs a function name, alias or ARN")
        identity = self._identity(OperationType.CHAINED_INVOKE, "ChainedInvoke", _check_name(name))
        return self._tracked(
            identity,
            run_invoke(
                self._execution,
                identity,
                function_name,
                payload,
                tenant_id=tenant_id,
                payload_serdes=payload_serdes or ANY_JSON,
                result_serdes=result_serdes
                or (JsonSerdes(result_type) if result_type else ANY_JSON),
            ),
        )

    # -- wait for condition --------------------------------------------------------------
    def wait_for_condition(
        self,
        check: Callable[[S], Awaitable[S]] | Callable[[S], S],
        *,
        initial_state: S,
        wait_strategy: WaitStrategy[S] | Callable[[S, int], WaitDecision],
        name: str | None = None,
        result_type: type[S] | None = None,
        serdes: Serdes[S] | None = None,
    ) -> Awaitable[S]:
        """Poll ``check(state) -> new_state`` until ``wait_strategy`` says stop.

        Between polls the workflow is suspended (the service owns the timer). An
        exception from ``check`` fails the operation at once with
        ``WaitForConditionError``; it is not retried.
        """
        if check is None or wait_strategy is None:
            raise ValidationError("wait_for_condition needs a check and a wait_strategy")
        identity = self._identity(OperationType.STEP, "WaitForCondition", _check_name(name))
        return self._tracked(
            identity,
            run_wait_for_condition(
                self._execution,
                identity,
                check,
                initial_state,
                wait_strategy,
                serdes or (JsonSerdes(result_type) if result_type else ANY_JSON),
                self._make_logger,
            ),
        )

    # -- map and parallel ----------------------------------------------------------------
    def parallel(
        self,
        branches: Sequence[Callable[[DurableContext], Awaitable[T]] | NamedBranch[T]],
        *,
        name: str | None = None,
        max_concurrency: int | None = None,
        completion: CompletionConfig | None = None,
        nesting: Nesting = Nesting.NESTED,
        result_type: type[T] | None = None,
        serdes: Serdes[BatchResult[T]] | None = None,
        item_serdes: Serdes[T] | None = None,
    ) -> Awaitable[BatchResult[T]]:
        """Run branches concurrently; by default every branch must succeed."""
        completion = completion or CompletionConfig.all_successful()
        validate_batch(len(branches), max_concurrency, completion)
        specs = [
            BranchSpec(b.name, b.fn)
            if isinstance(b, NamedBranch)
            else BranchSpec(f"parallel-branch-{i}", b)
            for i, b in enumerate(branches)
        ]
        return self._batch(
            "Parallel",
            specs,
            name,
            max_concurrency,
            completion,
            nesting,
            result_type,
            serdes,
            item_serdes,
        )

    def map(
        self,
        items: Sequence[I],
        fn: Callable[[DurableContext, I, int], Awaitable[T]],
        *,
        name: str | None = None,
        max_concurrency: int | None = None,
        completion: CompletionConfig | None = None,
        item_namer: Callable[[I, int], str] | None = None,
        nesting: Nesting = Nesting.NESTED,
        result_type: type[T] | None = None,
        serdes: Serdes[BatchResult[T]] | None = None,
        item_serdes: Serdes[T] | None = None,
    ) -> Awaitable[BatchResult[T]]:
        """Run ``fn(child_ctx, item, index)`` for every item, at most ``max_concurrency``
        at a time; by default the first failure ends the map."""
        completion = completion or CompletionConfig()
        items = list(items)
        validate_batch(len(items), max_concurrency, completion)

        def runner(item: I, index: int) -> Callable[[DurableContext], Awaitable[T]]:
            return lambda child: fn(child, item, index)

        specs = [
            BranchSpec(item_namer(item, i) if item_namer else f"map-item-{i}", runner(item, i))
            for i, item in enumerate(items)
        ]
        return self._batch(
            "Map",
            specs,
            name or _default_name(fn),
            max_concurrency,
            completion,
            nesting,
            result_type,
            serdes,
            item_serdes,
        )

    def _batch(
        self,
        kind: Any,
        specs: list[BranchSpec],
        name: str | None,
        max_concurrency: int | None,
        completion: CompletionConfig,
        nesting: Nesting,
        result_type: Any,
        serdes: Serdes[Any] | None,
        item_serdes: Serdes[Any] | None,
    ) -> Awaitable[BatchResult[Any]]:
        identity = self._identity(OperationType.CONTEXT, kind, _check_name(name))
        return self._tracked(
            identity,
            run_batch(
                self._execution,
                identity,
                specs,
                self._child,
                kind=kind,
                max_concurrency=max_concurrency,
                completion=completion,
                nesting=nesting,
                serdes=serdes,
                item_serdes=item_serdes or (JsonSerdes(result_type) if result_type else ANY_JSON),
                result_type=result_type or Any,
            ),
        )

    # -- replay-safe values --------------------------------------------------------------
    async def now(self) -> datetime:
        """The current time, recorded on first run and identical on every replay."""
        stamp = await self.step(_wall_clock, name="now")
        return datetime.fromtimestamp(stamp, UTC)

    async def random(self) -> float:
        """A random float in [0, 1), recorded once."""
        return await self.step(_random_float, name="random")

    async def uuid4(self) -> UUID:
        """A random UUID, recorded once."""
        from uuid import UUID

        return await self.step(_new_uuid, name="uuid4", result_type=UUID)


async def _wall_clock() -> float:
    return time.time()


async def _random_float() -> float:
    import random

    return random.random()


async def _new_uuid() -> UUID:
    import uuid

    return uuid.uuid4()
