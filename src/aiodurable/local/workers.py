"""The backend's tasks: invocations and other backend work, all in one task group.

Every task the backend starts lives in the task group the backend opens with
``async with`` and is cancelled when that block ends; none outlives the backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from aiodurable.local.errors import BackendClosedError

__all__ = ["Workers"]


class Workers:
    """Running invocations (one per execution at most) and other backend tasks."""

    def __init__(self, on_done: Callable[[], None]) -> None:
        self._on_done = on_done
        self._group: asyncio.TaskGroup | None = None
        self.invocations: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> bool:
        """Whether the task group is open."""
        return self._group is not None

    @property
    def busy(self) -> bool:
        """Whether an invocation or other backend work is running."""
        return bool(self.invocations or self._tasks)

    def open(self, group: asyncio.TaskGroup) -> None:
        """Start tasks in ``group`` from now on."""
        self._group = group

    def cancel_all(self) -> None:
        """Cancel every task (the backend is closing); the group awaits them."""
        self._group = None
        for task in [*self.invocations.values(), *self._tasks]:
            task.cancel()

    def create_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A task of the backend itself (the scheduler), not counted as activity."""
        return self._group_or_raise(coro).create_task(coro, name=name)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as backend work: it counts as activity until it ends."""
        task = self._group_or_raise(coro).create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def invoke(self, arn: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run an invocation of ``arn``; it counts as activity until it ends."""
        group = self._group_or_raise(coro)
        self.invocations[arn] = group.create_task(coro, name=f"aiodurable-invocation {arn}")

    def invocation_ended(self, arn: str) -> None:
        """The invocation of ``arn`` returned or raised."""
        self.invocations.pop(arn, None)
        self._on_done()

    def _group_or_raise(self, coro: Coroutine[Any, Any, Any]) -> asyncio.TaskGroup:
        if self._group is None:
            coro.close()
            raise BackendClosedError(
                "the local backend is not running; use it inside 'async with LocalBackend()'"
            )
        return self._group

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._on_done()
