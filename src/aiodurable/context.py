"""``DurableContext``: the object a workflow awaits durable operations on."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, overload

from aiodurable.duration import Seconds
from aiodurable.errors import ValidationError
from aiodurable.lambda_context import LambdaContext, current_lambda_context
from aiodurable.operations.batch import (
    BranchSpec,
    map_specs,
    parallel_specs,
    run_batch,
    validate_batch,
)
from aiodurable.operations.batch_result import BatchResult, CompletionConfig, NamedBranch, Nesting
from aiodurable.operations.callback import (
    Callback,
    CreateCallback,
    callback_result_serdes,
    callback_timeout_seconds,
)
from aiodurable.operations.child import run_child, run_virtual_child
from aiodurable.operations.determinism import (
    branch_digests,
    check_batch_items,
    item_digests,
    step_call,
)
from aiodurable.operations.forwarding import reject_keywords
from aiodurable.operations.invoke import InvokeOperation
from aiodurable.operations.names import check_name, check_sub_type, default_name
from aiodurable.operations.saga import Saga
from aiodurable.operations.scope import OperationScope, run_completing
from aiodurable.operations.step import StepOperation, serdes_for_function
from aiodurable.operations.terminal_scope import ScopeReport, TerminalScope
from aiodurable.operations.timeouts import timeout_seconds
from aiodurable.operations.wait import WaitOperation, wait_seconds
from aiodurable.operations.wait_for_callback import (
    Submitter,
    callback_waiter,
    run_wait_for_callback,
)
from aiodurable.operations.wait_for_condition import (
    WaitDecision,
    WaitForConditionOperation,
    WaitStrategy,
)
from aiodurable.replay_logging import LogGate, LoggingConfig, make_logger
from aiodurable.retry import RetryPolicy, StepSemantics
from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.serdes import ANY_JSON, AnySerdes, AsyncSerdes, JsonSerdes, Serdes, bind_serdes
from aiodurable.wire import OperationType
from aiodurable.wire.callback_names import WAIT_FOR_CALLBACK
from aiodurable.wire.identity import OperationIdentity

if TYPE_CHECKING:
    from uuid import UUID

    from structlog.typing import FilteringBoundLogger

__all__ = ["DurableContext", "LoggingConfig"]

T = TypeVar("T")
S = TypeVar("S")
I = TypeVar("I")  # noqa: E741

#: The keywords of ``ctx.step`` (everything else is refused: see operations/forwarding.py).
STEP_OPTIONS = ("name", "retry", "semantics", "timeout", "result_type", "serdes", "sub_type")


class DurableContext(OperationScope):
    """Durable operations of one workflow (or of one child context / branch).

    Every operation is assigned its id when it is *called*, so
    ``await asyncio.gather(ctx.step(a), ctx.step(b))`` numbers ``a`` before ``b`` on every
    replay whatever order the tasks run in.
    """

    __slots__ = ("_lambda_context", "_logger", "_logging")

    def __init__(
        self,
        execution: InvocationState,
        *,
        parent_id: str | None = None,
        id_prefix: str | None = None,
        replaying: bool | None = None,
        logging: LoggingConfig | None = None,
        lambda_context: LambdaContext | None = None,
    ) -> None:
        super().__init__(
            execution,
            parent_id,
            id_prefix,
            execution.replaying if replaying is None else replaying,
        )
        self._logging = logging or LoggingConfig()
        self._logger: FilteringBoundLogger | None = None
        # The root takes the handler's Lambda context; children are handed their parent's.
        self._lambda_context: LambdaContext | None = (
            lambda_context if lambda_context is not None else current_lambda_context.get()
        )

    # -- identity and replay -----------------------------------------------------------
    @property
    def execution_arn(self) -> str:
        """The ARN of the durable execution this context belongs to."""
        return self._execution.arn

    @property
    def lambda_context(self) -> LambdaContext | None:
        """The running invocation's Lambda context (``aws_request_id``,
        ``invoked_function_arn``, ``get_remaining_time_in_millis()`` …); ``None`` when the
        handler got none. It changes on every replay: size this invocation's work with it,
        never choose the durable operations to call by it.
        """
        return self._lambda_context

    def is_replaying(self) -> bool:
        """True while this context re-executes operations that are already recorded."""
        return self._replaying

    def is_suspending(self) -> bool:
        """True once this invocation is ending with the workflow unfinished.

        That is a suspension (every task waits on something the service will resume
        later: a wait, a callback, a retry …) or an error that stops the invocation
        rather than the workflow. The workflow's tasks are then cancelled, so ``finally:``
        blocks run although nothing ended; this tells them apart from a true outcome::

            try:
                await ctx.wait(3600)
            finally:
                if not ctx.is_suspending():
                    ...  # runs once, when the block really ends

        ``ctx.terminal_scope`` does this for durable cleanup and compensations.
        """
        return not self._execution.outcome.running

    def _logs_suppressed(self) -> bool:
        """Whether ``ctx.logger`` drops records now (replaying, unless configured not to)."""
        return self._replaying and not self._logging.log_during_replay

    # -- logging -----------------------------------------------------------------------
    def _make_logger(self, **bindings: Any) -> FilteringBoundLogger:
        config = self._logging
        return make_logger(
            LogGate(self),
            config.processors,
            config.logger,
            executionArn=self._execution.arn,
            **config.extra,
            **({"parentId": self.parent_id} if self.parent_id else {}),
            **bindings,
        )

    @property
    def logger(self) -> FilteringBoundLogger:
        """A structlog logger that stays silent while this context replays; fields as
        keywords or ``extra={...}`` land at the top level of the record."""
        if self._logger is None:
            self._logger = self._make_logger()
        return self._logger

    def set_logger(self, logger: Any) -> None:
        """Send the records of ``ctx.logger`` (and of the child contexts and steps started
        afterwards) to ``logger``, the official SDK's ``set_logger``: a Powertools
        ``Logger``, a ``logging.Logger``, anything whose ``info`` takes ``extra=``. Each
        record reaches it as ``logger.info(message, extra=fields)``, never while
        replaying (unless ``LoggingConfig(log_during_replay=True)``). It replaces
        ``LoggingConfig.logger`` and ``processors`` here; ``LoggingConfig(logger=...)``
        on ``@durable_execution`` does it for every context.
        """
        self._logging = replace(self._logging, logger=logger, processors=None)
        self._logger = None

    # -- step ----------------------------------------------------------------------------
    @overload
    def step(
        self,
        fn: Callable[..., Coroutine[Any, Any, T]],
        /,
        *args: Any,
        name: str | None = ...,
        retry: RetryPolicy | None = ...,
        semantics: StepSemantics = ...,
        timeout: Seconds | None = ...,
        result_type: type[T] | None = ...,
        serdes: Serdes[T] | AsyncSerdes[Any] | None = ...,
        sub_type: str | None = ...,
    ) -> Awaitable[T]: ...

    @overload
    def step(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        name: str | None = ...,
        retry: RetryPolicy | None = ...,
        semantics: StepSemantics = ...,
        timeout: Seconds | None = ...,
        result_type: type[T] | None = ...,
        serdes: Serdes[T] | AsyncSerdes[Any] | None = ...,
        sub_type: str | None = ...,
    ) -> Awaitable[T]: ...

    def step(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY,
        timeout: Seconds | None = None,
        result_type: Any = None,
        serdes: AnySerdes | None = None,
        sub_type: str | None = None,
        **unknown: Any,
    ) -> Awaitable[Any]:
        """Run ``fn(*args)`` as a durable step and return its result.

        ``fn`` may be async (awaited on the loop) or sync (run in a worker thread). Its
        result is checkpointed as JSON and comes back as the same type on replay: the
        type is taken from ``fn``'s return annotation, or from ``result_type``. A failed
        attempt is retried per ``retry`` (default: 6 attempts with exponential backoff);
        once retries are exhausted ``StepError`` is raised, on the live run and on every
        replay alike. ``timeout`` (seconds or a ``timedelta``) bounds each attempt: one
        past it fails with ``StepTimeoutError``, which the retry strategy sees.

        Only positional arguments are forwarded to ``fn``: keywords are the step's own
        options. Bind keywords with ``functools.partial`` (its function still gives the
        result type and the default name).

        >>> receipt = await ctx.step(charge, order, name="charge")  # doctest: +SKIP
        >>> await ctx.step(partial(send, to=user), name="notify", timeout=10)  # doctest: +SKIP
        """
        if unknown:
            reject_keywords("ctx.step", unknown, STEP_OPTIONS)
        seconds = None if timeout is None else timeout_seconds(timeout, "ctx.step")
        serdes = bind_serdes(
            serdes, JsonSerdes(result_type) if result_type is not None else serdes_for_function(fn)
        )
        identity = self._identity(
            OperationType.STEP,
            check_sub_type(sub_type, "Step"),
            check_name(name) if name is not None else default_name(fn),
            step_call(fn, args) if self._execution.trace is not None else None,
        )
        return self._tracked(
            identity,
            StepOperation(
                self._execution,
                identity,
                fn,
                args,
                retry,
                semantics,
                seconds,  # attempt_timeout
                serdes,
                self._make_logger,
            ).run(),
        )

    # -- wait ----------------------------------------------------------------------------
    def wait(self, duration: Seconds, *, name: str | None = None) -> Awaitable[None]:
        """Suspend the workflow for ``duration`` (whole seconds, at least 1).

        The timer lives in the service: the Lambda invocation ends and the workflow
        resumes in a later invocation, so a 7-day wait costs nothing while it waits.
        """
        seconds = wait_seconds(duration)  # validated before an id is allocated
        identity = self._identity(OperationType.WAIT, "Wait", check_name(name))
        return self._tracked(identity, WaitOperation(self._execution, identity, seconds).run())

    # -- child contexts ------------------------------------------------------------------
    def _child(self, parent_id: str | None, id_prefix: str, replaying: bool) -> DurableContext:
        return DurableContext(
            self._execution,
            parent_id=parent_id,
            id_prefix=id_prefix,
            replaying=self._replaying and replaying,
            logging=self._logging,
            lambda_context=self._lambda_context,
        )

    def run_in_child_context(
        self,
        fn: Callable[[DurableContext], Awaitable[T]],
        *,
        name: str | None = None,
        sub_type: str | None = None,
        result_type: type[T] | None = None,
        serdes: Serdes[T] | AsyncSerdes[Any] | None = None,
        summary: Callable[[T], str] | None = None,
        virtual: bool = False,
    ) -> Awaitable[T]:
        """Run ``fn(child_ctx)`` as one checkpointed unit and return its result.

        Its operations are recorded under the child; once it succeeded, replay returns
        the stored result without running ``fn`` again (results over 256 KiB are rebuilt
        by replaying the child's operations instead). A failure raises
        ``ChildContextError`` whose ``error_type`` names what escaped ``fn``.

        ``virtual=True`` (the official SDK's ``ChildConfig(is_virtual=True)``) groups
        operations without a CONTEXT entry in the history: nothing is checkpointed for
        the child itself, ``fn`` runs again on every replay (its operations replay from
        their own checkpoints) and its operations name the enclosing context as their
        parent. Its result is not stored, so it takes no ``serdes`` or ``summary``.
        """
        identity = self._identity(
            OperationType.CONTEXT,
            check_sub_type(sub_type, "RunInChildContext"),
            check_name(name) if name is not None else default_name(fn),
        )
        op_id = identity.id
        if virtual:
            if serdes is not None or summary is not None:
                raise ValidationError(
                    f"run_in_child_context {identity.name or op_id!r}: a virtual child "
                    "context stores no result, so serdes= and summary= have nothing to do; "
                    "drop them, or drop virtual=True to checkpoint the result"
                )
            # The ids inside are prefixed with this context's id (no collision with the
            # enclosing context's), their parent is the enclosing recorded context.
            child = self._child(self.parent_id, op_id, True)
            # Nothing records its end; that the operation called after it is recorded
            # says it ended in an earlier invocation (so plugins hear a replayed end).
            after, operations = self._peek_id(), self._execution.operations
            work = run_virtual_child(
                self._execution, identity, fn, child, lambda: after in operations
            )
            # Unrecorded: replay goes on past it while the next operation is recorded.
            return self._replay_tracked(True, work) if self._replaying else work
        return self._tracked(
            identity,
            run_child(
                self._execution,
                identity,
                lambda child: run_completing(fn, child),
                lambda replaying: self._child(op_id, op_id, replaying),
                serdes=bind_serdes(serdes, JsonSerdes(result_type) if result_type else ANY_JSON),
                summary=summary,
            ),
        )

    # -- callbacks ---------------------------------------------------------------------
    @overload
    def create_callback(
        self,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        result_type: None = ...,
        serdes: None = ...,
        sub_type: str | None = ...,
    ) -> Awaitable[Callback[str]]: ...

    @overload
    def create_callback(
        self,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        result_type: type[T],
        serdes: Serdes[T] | AsyncSerdes[Any] | None = ...,
        sub_type: str | None = ...,
    ) -> Awaitable[Callback[T]]: ...

    @overload
    def create_callback(
        self,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        result_type: None = ...,
        serdes: Serdes[T] | AsyncSerdes[T],
        sub_type: str | None = ...,
    ) -> Awaitable[Callback[T]]: ...

    def create_callback(
        self,
        *,
        name: str | None = None,
        timeout: Seconds | None = None,
        heartbeat_timeout: Seconds | None = None,
        result_type: Any = None,
        serdes: AnySerdes | None = None,
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
            OperationType.CALLBACK, check_sub_type(sub_type, "Callback"), check_name(name)
        )
        return self._tracked(
            identity,
            CreateCallback(
                self._execution,
                identity,
                timeout_s,
                heartbeat_s,
                callback_result_serdes(result_type, serdes),
            ).run(),
        )

    @overload
    def wait_for_callback(
        self,
        submitter: Submitter,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        retry: RetryPolicy | None = ...,
        result_type: None = ...,
        serdes: None = ...,
    ) -> Awaitable[str]: ...

    @overload
    def wait_for_callback(
        self,
        submitter: Submitter,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        retry: RetryPolicy | None = ...,
        result_type: type[T],
        serdes: Serdes[T] | AsyncSerdes[Any] | None = ...,
    ) -> Awaitable[T]: ...

    @overload
    def wait_for_callback(
        self,
        submitter: Submitter,
        *,
        name: str | None = ...,
        timeout: Seconds | None = ...,
        heartbeat_timeout: Seconds | None = ...,
        retry: RetryPolicy | None = ...,
        result_type: None = ...,
        serdes: Serdes[T] | AsyncSerdes[T],
    ) -> Awaitable[T]: ...

    def wait_for_callback(
        self,
        submitter: Submitter,
        *,
        name: str | None = None,
        timeout: Seconds | None = None,
        heartbeat_timeout: Seconds | None = None,
        retry: RetryPolicy | None = None,
        result_type: Any = None,
        serdes: AnySerdes | None = None,
    ) -> Awaitable[Any]:
        """Create a callback, hand its id to ``submitter`` (run as a step), and wait for
        the result. Raises the callback's own error, or ``CallbackSubmitterError`` when
        the submitter failed after its retries.

        A submitter declared with two required parameters, the official SDK's
        ``submitter(callback_id, ctx)``, also gets a
        :class:`~aiodurable.operations.wait_for_callback.WaitForCallbackContext`
        (``ctx.logger``, ``ctx.attempt``)."""
        name = check_name(name) if name is not None else default_name(submitter)
        body = callback_waiter(
            submitter, name, timeout, heartbeat_timeout, retry, result_type, serdes
        )
        identity = self._identity(OperationType.CONTEXT, WAIT_FOR_CALLBACK, name)
        op_id = identity.id
        return self._tracked(
            identity,
            run_wait_for_callback(
                self._execution,
                identity,
                body,
                lambda replaying: self._child(op_id, op_id, replaying),
                result_type,
                serdes,
            ),
        )

    # -- invoke --------------------------------------------------------------------------
    def invoke(
        self,
        function_name: str,
        payload: Any = None,
        *,
        name: str | None = None,
        tenant_id: str | None = None,
        result_type: type[T] | None = None,
        payload_serdes: AnySerdes | None = None,
        result_serdes: Serdes[T] | AsyncSerdes[Any] | None = None,
    ) -> Awaitable[Any]:
        """Invoke another Lambda function (durable or not) and return its result.

        The workflow suspends while the target runs; a failure of the target raises
        ``InvokeError`` whose ``error_type`` is the target's.
        """
        if not function_name:
            raise ValidationError("invoke needs a function name, alias or ARN")
        identity = self._identity(OperationType.CHAINED_INVOKE, "ChainedInvoke", check_name(name))
        return self._tracked(
            identity,
            InvokeOperation(
                self._execution,
                identity,
                function_name,
                payload,
                tenant_id=tenant_id,
                payload_serdes=bind_serdes(payload_serdes, ANY_JSON),
                result_serdes=bind_serdes(
                    result_serdes, JsonSerdes(result_type) if result_type else ANY_JSON
                ),
            ).run(),
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
        serdes: Serdes[S] | AsyncSerdes[Any] | None = None,
        timeout: Seconds | None = None,
    ) -> Awaitable[S]:
        """Poll ``check(state) -> new_state`` until ``wait_strategy`` says stop.

        Between polls the workflow is suspended (the service owns the timer). An
        exception from ``check`` fails the operation at once with
        ``WaitForConditionError``; it is not retried. ``timeout`` (seconds or a
        ``timedelta``) bounds each check: one past it fails the operation the same way,
        its ``error_type`` naming ``StepTimeoutError``.
        """
        if check is None or wait_strategy is None:
            raise ValidationError("wait_for_condition needs a check and a wait_strategy")
        seconds = timeout_seconds(timeout, "wait_for_condition")
        identity = self._identity(OperationType.STEP, "WaitForCondition", check_name(name))
        return self._tracked(
            identity,
            WaitForConditionOperation(
                self._execution,
                identity,
                check,
                initial_state,
                wait_strategy,
                bind_serdes(serdes, JsonSerdes(result_type) if result_type else ANY_JSON),
                self._make_logger,
                seconds,
            ).run(),
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
        serdes: Serdes[BatchResult[T]] | AsyncSerdes[Any] | None = None,
        item_serdes: Serdes[T] | AsyncSerdes[Any] | None = None,
    ) -> Awaitable[BatchResult[T]]:
        """Run branches concurrently; by default every branch must succeed."""
        completion = completion or CompletionConfig.all_successful()
        validate_batch(len(branches), max_concurrency, completion)
        specs = parallel_specs(branches)
        return self._batch(
            "Parallel",
            specs,
            lambda: branch_digests([(spec.name, spec.run) for spec in specs]),
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
        serdes: Serdes[BatchResult[T]] | AsyncSerdes[Any] | None = None,
        item_serdes: Serdes[T] | AsyncSerdes[Any] | None = None,
    ) -> Awaitable[BatchResult[T]]:
        """Run ``fn(child_ctx, item, index)`` for every item, at most ``max_concurrency``
        at a time; by default the first failure ends the map."""
        completion = completion or CompletionConfig()
        items = list(items)
        validate_batch(len(items), max_concurrency, completion)
        return self._batch(
            "Map",
            map_specs(items, fn, item_namer),
            lambda: item_digests(items),
            name or default_name(fn),
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
        digests: Callable[[], list[str]],
        name: str | None,
        max_concurrency: int | None,
        completion: CompletionConfig,
        nesting: Nesting,
        result_type: Any,
        serdes: AnySerdes | None,
        item_serdes: AnySerdes | None,
    ) -> Awaitable[BatchResult[Any]]:
        identity = self._identity(OperationType.CONTEXT, kind, check_name(name))
        check_batch_items(self._execution, identity.id, kind, identity.name, digests)
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
                item_serdes=bind_serdes(
                    item_serdes, JsonSerdes(result_type) if result_type else ANY_JSON
                ),
                result_type=result_type or Any,
            ),
        )

    # -- terminal scopes and sagas -------------------------------------------------------
    def terminal_scope(self, name: str | None = None) -> TerminalScope:
        """A block with cleanup and compensations that run on a true outcome only.

        ``scope.on_failure(fn, *args)`` registers a compensation (runs if the block
        fails), ``scope.finally_(fn, *args)`` a cleanup (runs whatever the outcome);
        when the block ends they run newest first, each as a step (options as
        ``ctx.step``'s), in a child context named ``name``. A suspension is not an end:
        nothing runs while the invocation suspends. The block's error is re-raised after
        the actions; if an action failed, ``TerminalScopeError`` carries both::

            async with ctx.terminal_scope("load-test") as scope:
                fleet = await ctx.step(start_instances, 20)
                scope.finally_(terminate_instances, fleet)
                await ctx.wait(timedelta(hours=2))  # suspends: nothing is terminated
                await ctx.step(collect_results, fleet)
        """
        identity = self._reserve_scope(name, "TerminalScope")
        return TerminalScope(identity.name, self._scope_actions(identity), self.is_suspending)

    def saga(self, name: str | None = None) -> Saga:
        """A terminal scope whose ``step(fn, *args, compensate=undo)`` registers
        ``undo(result)`` once ``fn`` succeeded; on failure the undos run newest first::

            async with ctx.saga("booking") as saga:
                seat = await saga.step(reserve_seat, trip, compensate=release_seat)
                paid = await saga.step(charge_card, trip, compensate=refund)
                await saga.step(ship_tickets, trip)
        """
        identity = self._reserve_scope(name, "Saga")
        return Saga(identity.name, self, self._scope_actions(identity), self.is_suspending)

    def _reserve_scope(self, name: str | None, sub_type: str) -> OperationIdentity:
        # The id is taken now, before the block's operations: the actions' child context
        # has the same id whatever the block did before it ended.
        return self._identity(OperationType.CONTEXT, sub_type, check_name(name))

    def _scope_actions(
        self, identity: OperationIdentity
    ) -> Callable[[Callable[[Any], Awaitable[ScopeReport]]], Awaitable[ScopeReport]]:
        op_id = identity.id

        def run_actions(body: Callable[[Any], Awaitable[ScopeReport]]) -> Awaitable[ScopeReport]:
            return self._tracked(
                identity,
                run_child(
                    self._execution,
                    identity,
                    lambda child: run_completing(body, child),
                    lambda replaying: self._child(op_id, op_id, replaying),
                    serdes=JsonSerdes(ScopeReport),
                    summary=None,
                ),
            )

        return run_actions

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
