"""The invocation scheduler: decides when nothing more can progress (docs/protocol.md §5.10).

A workflow is plain asyncio: it may run durable operations in ``asyncio.gather``, a
``TaskGroup``, ``create_task``, ``asyncio.wait`` or an anyio task group. The scheduler
sees every task of the invocation — the root task and every task created from it,
adopted through a task factory that follows a context variable — and knows, for each,
whether it is inside a durable operation. The invocation suspends only when

* no task is inside an operation that is working (a step body, a wait_for_condition
  check, a callback submitter, a checkpoint or a payload read or write in flight): an
  operation that *parks* (a wait, a pending retry, a callback without result, an invoke)
  stops counting until it is woken;
* no task of the invocation is ready to run: a task that has just finished a step
  reaches its next operation (or blocks) before the decision;
* no callback of the invocation is still on its way to one of them (a finished child
  waking its ``gather``): on asyncio's own loops the ready queue is read for callbacks
  that run in the invocation's context; on other loops the state must hold for several
  loop iterations in a row.

A task blocked outside any operation (``await`` on another task, a gather, a task group,
an event) is waiting for other workflow tasks, so it does not hold the invocation open:
awaiting I/O or timers directly in workflow code, outside steps, is cut short by a
suspension and runs again on the next replay.

When every task is blocked, the *settlers* (map/parallel coordinators) are asked, innermost
first, to count what completed: deciding at these moments, never as events arrive, makes
batch outcomes independent of task timing. A settler that starts or wakes a task defers
the decision.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextlib import suppress
from datetime import datetime
from typing import Any, TypeVar

from aiodurable.errors import UnfinishedOperationError
from aiodurable.runtime.outcome import InvocationOutcome
from aiodurable.wire import Operation

__all__ = ["InvocationScheduler", "current_scheduler", "unfinished_error"]

T = TypeVar("T")

_SCHEDULER: contextvars.ContextVar[InvocationScheduler | None] = contextvars.ContextVar(
    "aiodurable_scheduler", default=None
)

#: On a loop whose ready queue cannot be read, how many loop iterations in a row the
#: invocation must stay blocked, with nothing of it changing, before it suspends. A
#: finished task wakes what waits for it in one iteration per future in between (a gather
#: inside a gather: two).
_SETTLE_ITERATIONS = 8

#: Finished tasks are dropped from the set of tasks once it holds more than this many,
#: or twice as many as after the last pruning.
_PRUNE_MIN = 64

#: What a working operation adds to its task's level (see ``InvocationScheduler._levels``);
#: a task is never inside this many operations at once.
_WORKING = 1 << 20


def _current_task_of(loop: asyncio.AbstractEventLoop) -> Callable[[], asyncio.Task[Any] | None]:
    """``asyncio.current_task`` for ``loop``, as cheap as the interpreter allows: before
    3.12 the standard one is Python code that looks the loop up on every call, where the
    table it reads can be bound once (it is asked several times per operation)."""
    table = getattr(asyncio.tasks, "_current_tasks", None)
    if sys.version_info < (3, 12) and isinstance(table, dict):
        return functools.partial(table.get, loop)
    return asyncio.current_task


def current_scheduler() -> InvocationScheduler | None:
    """The scheduler of the invocation whose task is running, if any."""
    return _SCHEDULER.get()


def _install_task_factory(loop: asyncio.AbstractEventLoop) -> None:
    """Make tasks created inside an invocation known to its scheduler.

    The factory wraps whatever factory the loop had and only looks at a context
    variable, so tasks created outside invocations are untouched.
    """
    previous = loop.get_task_factory()
    if getattr(previous, "_aiodurable_adopts", False):
        return

    def adopting_factory(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
    ) -> asyncio.Future[Any]:
        if previous is None:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        else:
            made = previous(loop, coro, **kwargs)
            if not isinstance(made, asyncio.Task):
                return made  # not a task: nothing the scheduler can watch
            task = made
        context: contextvars.Context | None = kwargs.get("context")
        scheduler = _SCHEDULER.get() if context is None else context.get(_SCHEDULER)
        if scheduler is not None:
            scheduler._adopt(task)
        return task

    adopting_factory._aiodurable_adopts = True  # type: ignore[attr-defined]
    loop.set_task_factory(adopting_factory)  # type: ignore[arg-type]


class InvocationScheduler:
    """Every task of one invocation, what each is doing, and when to suspend."""

    def __init__(self, outcome: InvocationOutcome) -> None:
        self.outcome = outcome
        self._loop = loop = asyncio.get_running_loop()
        _install_task_factory(loop)
        #: The task running now (``asyncio.current_task()``).
        self.current_task = _current_task_of(loop)
        #: Tasks of the invocation (insertion-ordered set). Finished ones are dropped
        #: when a decision looks at them, or once they make up half of the set: a done
        #: callback per task would cost a loop callback for every map item.
        self._tasks: dict[asyncio.Task[Any], None] = {}
        self._prune_at = _PRUNE_MIN
        #: Per task inside operations: its *level*, one for each operation it is inside
        #: plus ``_WORKING`` for each of them that works (one int where two counts would
        #: take two dicts), and the outermost of those operations.
        self._levels: dict[asyncio.Task[Any] | None, int] = {}
        self._outer: dict[asyncio.Task[Any] | None, object] = {}
        #: Working operations of tasks that are not parked, and how many tasks are parked
        #: (with none, nothing can suspend: there is nothing the service would resume).
        self._busy = 0
        self._parked = 0
        #: The coroutines of operations called that have not started yet, by operation
        #: id. Held until the invocation ends, so that one never awaited is reported.
        self._unstarted: dict[str, Coroutine[Any, Any, Any]] = {}
        self._watchers: dict[str, list[asyncio.Future[None]]] = {}
        self._settlers: list[Callable[[], None]] = []
        self._check_scheduled = False
        self._root: asyncio.Task[Any] | None = None
        #: Each live task's path from the root task (its rank among its parent's
        #: children, and so on up), and how many children each live task created.
        self._paths: dict[asyncio.Task[Any], str] = {}
        self._ranks: dict[asyncio.Task[Any], int] = {}
        #: Bumped whenever a task is adopted, parks or is woken.
        self._epoch = 0
        self._settled_epoch = -1
        self._stable = 0
        self.context = contextvars.copy_context()
        self.context.run(_SCHEDULER.set, self)

    # -- tasks -------------------------------------------------------------------------
    def _adopt(self, task: asyncio.Task[Any]) -> None:
        parent = self.current_task()
        if self._levels and self._levels.get(parent, 0) >= _WORKING:
            # Created by working code (a step body, a payload transfer, a library under
            # them): that work already holds the invocation open, and what it leaves
            # running (a client's background task) is not the workflow's to cancel.
            return
        above = self._paths.get(parent)  # type: ignore[arg-type]
        if above is not None:
            # Where the task stands in the tree of tasks: its parent's path and its rank
            # among the parent's children, both fixed by the workflow's code alone.
            ranks = self._ranks
            rank = ranks.get(parent, 0)  # type: ignore[arg-type]
            ranks[parent] = rank + 1  # type: ignore[index]
            self._paths[task] = f"{above}{rank}."
        tasks = self._tasks
        tasks[task] = None
        self._epoch += 1
        if len(tasks) > self._prune_at:
            self._prune([done for done in tasks if done.done()])
            self._prune_at = max(_PRUNE_MIN, 2 * len(tasks))

    def _prune(self, done: list[asyncio.Task[Any]]) -> None:
        """Forget finished tasks. (A task that finishes changes nothing a decision relies
        on: the callbacks it wakes are seen on the loop's queue, or bump the epoch.)"""
        tasks, paths, ranks = self._tasks, self._paths, self._ranks
        for task in done:
            del tasks[task]
            paths.pop(task, None)
            ranks.pop(task, None)
        if done:
            self._epoch += 1

    async def run(self, coro: Coroutine[Any, Any, T], name: str) -> tuple[asyncio.Task[T], bool]:
        """Run the workflow's root coroutine until it ends or the invocation stops.

        Returns its task and whether the invocation stopped while it was running. Every
        task of the invocation has ended when this returns: those still running are
        cancelled (a suspension, a fatal error, or tasks the workflow left behind).
        """
        # The workflow runs in the context of the caller as it is now (plugins set their
        # span there when the invocation starts), with this scheduler named in it.
        self.context = contextvars.copy_context()
        self.context.run(_SCHEDULER.set, self)
        root = self._root = self._loop.create_task(coro, name=name, context=self.context.copy())
        self._paths[root] = ""
        if root not in self._tasks:  # a loop that bypasses task factories
            self._adopt(root)
        ended = asyncio.ensure_future(self.outcome.ended.wait())
        try:
            await asyncio.wait((root, ended), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self.outcome.cancel()  # by the invocation's caller: tasks are cut short below
            raise
        finally:
            ended.cancel()
            interrupted = not root.done()
            await self.shutdown()
            with suppress(asyncio.CancelledError):
                await ended
        if not root.cancelled():
            root.exception()  # retrieved: the outcome decides whether it counts
        return root, interrupted

    async def shutdown(self) -> None:
        """Cancel every task of the invocation still running and wait for them; close
        the coroutines of operations never awaited (nothing will run them now)."""
        for coro in self._unstarted.values():
            coro.close()
        for _ in range(100):  # cancelled tasks may start others while unwinding
            live = [task for task in self._tasks if not task.done()]
            if not live:
                return
            for task in live:
                task.cancel()
            await asyncio.wait(live)
            for task in live:  # what they raised while unwinding ends with them
                if not task.cancelled():
                    task.exception()

    def unfinished_operations(
        self, operation_of: Callable[[Coroutine[Any, Any, Any]], object | None]
    ) -> list[object]:
        """Operations called but not finished: never awaited, or in a task still running
        (the outermost one of each such task). ``operation_of(coro)`` tells which
        operation a coroutine never started would have run."""
        found: list[object] = []
        for work in self._unstarted.values():
            # A task cancelled before it began closes its coroutine: that is not lost.
            if inspect.getcoroutinestate(work) == inspect.CORO_CREATED:
                operation = _operation_of(work, operation_of)
                if operation is not None:
                    found.append(operation)
        current = self.current_task()
        for task, operation in self._outer.items():
            if task is not current and task is not None and not task.done():
                found.append(operation)
        return found

    def path_of(self, task: asyncio.Task[Any] | None) -> str | None:
        """The task's path from the root task (``None``: not one of the workflow's)."""
        return self._paths.get(task)  # type: ignore[arg-type]  # None is never a key

    def lane(self, task: asyncio.Task[Any] | None, above: str | None) -> str:
        """Where ``task`` stands below the task whose path is ``above`` (the task that
        runs a context's code): the ranks from there down, ``"0.2"`` being the third
        task created by the first task that one created. Operations called from other
        tasks than a context's own are numbered per lane, so a task's operations get
        the same ids on every replay, however its siblings' steps are timed."""
        # Paths are strings of ranks, each followed by a dot ("0.2." below the root, ""
        # for the root): strings, not tuples, keep the garbage collector out of them.
        path = self._paths.get(task) if task is not None else None
        if path is None:
            return "?"  # a task created outside the workflow's own tasks
        if above is not None and path.startswith(above):
            return path[len(above) : -1]
        return "/" + path[:-1]

    # -- operations --------------------------------------------------------------------
    def called(
        self,
        operation: Any,
        work: Coroutine[Any, Any, T],
        working: bool,
        reports_itself: bool,
    ) -> Coroutine[Any, Any, T]:
        """Track ``operation`` (an identity, keyed by its ``id``) from its call until
        ``work`` ends: a coroutine that ``reports_itself`` calls :meth:`enter` and
        :meth:`exit` (an operation's ``run()``); any other is wrapped to do it.

        A *working* operation (every kind but a context) counts as working while it runs
        and is not parked; a context only records that its task is inside it.
        """
        if not reports_itself:
            work = self._operation(operation, work, working)
        self._unstarted[operation.id] = work
        return work

    async def _operation(self, operation: Any, work: Awaitable[T], working: bool) -> T:
        task = self.enter(operation, working)
        try:
            return await work
        finally:
            self.exit(task, working)

    def enter(self, operation: Any, working: bool) -> asyncio.Task[Any] | None:
        """The current task starts running ``operation`` (an identity); a ``working`` one
        counts as working until :meth:`exit`, given the task returned here."""
        unstarted = self._unstarted
        if unstarted:
            unstarted.pop(operation.id, None)
        task = self.current_task()
        levels = self._levels
        level = levels.get(task, 0)
        if not level:
            self._outer[task] = operation
        if working:
            levels[task] = level + _WORKING + 1
            self._busy += 1
        else:
            levels[task] = level + 1
        return task

    def exit(self, task: asyncio.Task[Any] | None, working: bool) -> None:
        """``task`` is done with the operation it entered last."""
        levels = self._levels
        level = levels[task] - (_WORKING + 1 if working else 1)
        if level:
            levels[task] = level
        else:
            del levels[task]
            del self._outer[task]
        if working:
            self._busy -= 1
            if not self._busy and self._parked:
                self._schedule_check()

    def working(self, operation: Any) -> _Working:
        """Count the current task as working for the duration of a ``with`` block (a
        context's own checkpoints and payload transfers, around code that is not an
        operation)."""
        return _Working(self, operation)

    # -- parking -----------------------------------------------------------------------
    async def park(
        self,
        resume_at: datetime | float | None = None,
        wake: asyncio.Future[None] | None = None,
        watch: str | None = None,
    ) -> None:
        """Suspend this task until ``resume_at`` (epoch seconds or datetime), until
        ``wake`` is resolved through :meth:`wake`, or until :meth:`notify` reports a
        change of operation ``watch``. With none of them it stays parked until the
        invocation ends. While parked, its operations do not count as working."""
        loop = self._loop
        future = wake if wake is not None else loop.create_future()
        if watch is not None:
            self._watchers.setdefault(watch, []).append(future)
        timer: asyncio.TimerHandle | None = None
        if resume_at is not None:
            when = resume_at.timestamp() if isinstance(resume_at, datetime) else resume_at
            timer = loop.call_later(max(0.0, when - time.time()), self.wake, future)
        held = self._levels.get(self.current_task(), 0) // _WORKING
        self._busy -= held
        self._parked += 1
        self._epoch += 1
        self._schedule_check()
        try:
            await future
        finally:
            self._parked -= 1
            self._busy += held
            if timer is not None:
                timer.cancel()

    def wake(self, future: asyncio.Future[None]) -> None:
        """Resume a parked task."""
        if not future.done():
            future.set_result(None)
            self._epoch += 1

    def notify(self, operations: Iterable[Operation]) -> None:
        """Wake the tasks parked on changes of these operations."""
        watchers = self._watchers
        if not watchers:
            return
        for op in operations:
            futures = watchers.pop(op.id, None)
            if futures:
                for future in futures:
                    self.wake(future)

    def add_settler(self, settle: Callable[[], None]) -> None:
        """Call ``settle()`` whenever every task is blocked, until removed."""
        self._settlers.append(settle)

    def remove_settler(self, settle: Callable[[], None]) -> None:
        if settle in self._settlers:
            self._settlers.remove(settle)

    # -- the decision ------------------------------------------------------------------
    def _schedule_check(self) -> None:
        if not self._check_scheduled and self.outcome.running:
            self._check_scheduled = True
            self._loop.call_soon(self._check, context=self.context)

    def _callbacks_queued(self) -> bool | None:
        """Whether the loop's ready queue holds a callback that runs in this invocation's
        context (``None`` on a loop whose queue cannot be read)."""
        ready = getattr(self._loop, "_ready", None)
        if ready is None:
            return None
        for handle in ready:
            context = getattr(handle, "_context", None)
            if context is not None and context.get(_SCHEDULER) is self and not handle.cancelled():
                return True
        return False

    def _check(self) -> None:
        self._check_scheduled = False
        if self._busy or not self.outcome.running:
            return  # the operation that stops working schedules the next check
        if self._root is None or self._root.done():
            return  # the workflow ended: the invocation completes, it does not suspend
        done: list[asyncio.Task[Any]] = []
        for task in self._tasks:
            if task.done():
                done.append(task)
                continue
            waiter = getattr(task, "_fut_waiter", None)
            if waiter is None or waiter.done():
                self._schedule_check()  # runnable
                return
        if done:
            self._prune(done)  # what they wake is on the loop's queue (looked at below)
        if self._epoch != self._settled_epoch:
            self._settled_epoch = self._epoch
            self._stable = 0
        queued = self._callbacks_queued()
        if queued or (queued is None and self._stable < _SETTLE_ITERATIONS):
            # A callback of this invocation is on its way (a finished child about to
            # wake its gather): look again once it ran. On a loop whose queue cannot be
            # read, the state must hold for a few rounds instead.
            self._stable += 1
            self._schedule_check()
            return
        epoch = self._epoch
        for settle in reversed(self._settlers):
            settle()
            if self._epoch != epoch:
                self._schedule_check()
                return
        self.outcome.suspend()


def unfinished_error(operations: list[object]) -> UnfinishedOperationError:
    labels = [str(operation) for operation in operations]
    shown = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    return UnfinishedOperationError(
        f"the workflow returned while durable operations it called had not finished: "
        f"{shown}. An operation that is never awaited, or whose task is left running, "
        "would be lost; await each one (or the task, asyncio.gather or TaskGroup that "
        "runs it) before returning."
    )


def _operation_of(
    coro: Any, operation_of: Callable[[Coroutine[Any, Any, Any]], object | None]
) -> object | None:
    """The operation ``coro`` runs: one wrapped by the scheduler, or one ``operation_of``
    recognizes."""
    if getattr(coro, "cr_code", None) is _OPERATION_CODE:
        return inspect.getcoroutinelocals(coro).get("operation")
    return operation_of(coro)


_OPERATION_CODE = InvocationScheduler._operation.__code__


class _Working:
    """``with scheduler.working(identity):`` (a class: cheaper than a generator)."""

    __slots__ = ("_operation", "_scheduler", "_task")

    def __init__(self, scheduler: InvocationScheduler, operation: Any) -> None:
        self._scheduler = scheduler
        self._operation = operation
        self._task: asyncio.Task[Any] | None = None

    def __enter__(self) -> None:
        self._task = self._scheduler.enter(self._operation, True)

    def __exit__(self, *exc_info: object) -> None:
        self._scheduler.exit(self._task, True)
