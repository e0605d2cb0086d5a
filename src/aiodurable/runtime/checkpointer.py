"""The checkpointer: one flusher task sends queued updates in batches (docs/protocol.md §5).

Operations enqueue :class:`OperationUpdate` objects. Updates whose caller waits for them
(``blocking``) are sent at once, together with everything queued before them; updates
nobody waits for (an at-least-once step START, a context START) wait up to
``idle_flush_delay`` for a blocking update to travel with, so a sequential step costs a
single round trip. Batches are bounded by bytes and by count, the checkpoint token is
chained from each response to the next request, and the operations a response carries
are merged into the execution before any waiter of that batch resumes.

How the invocation ends is not kept here: a revoked token or a failed checkpoint is
reported into the invocation's :class:`InvocationOutcome`, and the checkpointer reads it
back to refuse what comes after.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from contextlib import suppress
from typing import Any

import msgspec

from aiodurable.errors import CheckpointError, ExecutionStoppedError
from aiodurable.runtime.outcome import InvocationOutcome, OutcomeState
from aiodurable.runtime.signals import TokenRevoked
from aiodurable.service.base import DurableServiceClient
from aiodurable.wire import Operation, OperationType, OperationUpdate

__all__ = ["Checkpointer", "CheckpointerStats", "TokenRevoked"]

#: Read on every update: a module constant costs less than the enum attribute.
_REVOKED = OutcomeState.REVOKED

MAX_BATCH_BYTES = 750 * 1024
MAX_BATCH_UPDATES = 250
STATE_PAGE_SIZE = 1000


class _Kind(enum.Enum):
    UPDATE = 0
    REFRESH = 1  # an empty checkpoint that must be sent: observe timers that fired
    BARRIER = 2  # resolves once everything queued before it was sent


_UPDATE = _Kind.UPDATE  # a module constant costs less than the enum attribute


class _Item:
    __slots__ = ("future", "kind", "size", "update")

    def __init__(
        self, kind: _Kind, update: OperationUpdate | None, future: asyncio.Future[None] | None
    ) -> None:
        self.kind = kind
        self.update = update
        self.future = future
        self.size = _update_size(update) if update is not None else 0


_encode = msgspec.json.Encoder().encode
#: Upper bound of the JSON of an update's fixed fields (ids are 64 characters; names up
#: to 256; options a few numbers).
_FIXED_FIELDS_BYTES = 1024


def _update_size(update: OperationUpdate) -> int:
    """An upper bound of the update's JSON size, exact for what can be large."""
    size = _FIXED_FIELDS_BYTES
    payload = update.payload
    if payload:
        # Its JSON-escaped UTF-8 length, without encoding it twice: quotes and
        # backslashes gain one character, common control characters five.
        size += (
            2
            + len(payload.encode())
            + payload.count('"')
            + payload.count("\\")
            + 5 * (payload.count("\n") + payload.count("\r") + payload.count("\t"))
        )
    if update.error is not None:
        size += len(_encode(update.error))
    return size


class CheckpointerStats(msgspec.Struct):
    calls: int = 0
    updates: int = 0
    state_pages: int = 0


class Checkpointer:
    def __init__(
        self,
        client: DurableServiceClient,
        execution_arn: str,
        checkpoint_token: str,
        on_operations: Callable[[Sequence[Operation]], None],
        outcome: InvocationOutcome,
        *,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        max_batch_updates: int = MAX_BATCH_UPDATES,
        idle_flush_delay: float = 0.1,
        on_queue: Callable[[OperationUpdate], None] | None = None,
    ) -> None:
        self._client = client
        #: Told of every update before it is queued (the plugins' operation-start hook).
        self._on_queue = on_queue
        self._arn = execution_arn
        self._token = checkpoint_token
        self._on_operations = on_operations
        self._outcome = outcome
        self._max_bytes = max_batch_bytes
        self._max_updates = max_batch_updates
        self._idle_delay = idle_flush_delay
        #: Items not sent yet, oldest first; only the flusher takes from it. While it
        #: waits, ``_waiter`` is its future: a blocking update resolves it at once, and
        #: updates nobody waits for are held back until ``_hold`` fires.
        self._queue: deque[_Item] = deque()
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        #: The timer that ends holding back. Left to run out when a blocking update came
        #: first: one timer then serves every update of the next ``idle_flush_delay``
        #: (firing early for some only sends them sooner), instead of one per update.
        self._hold: asyncio.TimerHandle | None = None
        #: A blocking update is queued: send without holding back.
        self._urgent = False
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        #: No update is accepted any more: closed, or the execution completed through a
        #: checkpoint (``_sealed`` says which, for the message).
        self._closing = False
        self._sealed = False
        #: This checkpointer's own failure, raised again to whoever submits after it.
        self.failure: BaseException | None = None
        self.stats = CheckpointerStats()

    @property
    def token(self) -> str:
        return self._token

    # -- producer side -----------------------------------------------------------------
    def enqueue(self, update: OperationUpdate) -> None:
        """Queue an update whose caller does not wait for it to be durable."""
        self._check_open()
        if self._on_queue is not None:
            self._on_queue(update)
        self._queue.append(_Item(_UPDATE, update, None))
        if self._hold is None and self._waiter is not None:
            self._hold = self._loop.call_later(self._idle_delay, self._held)

    # ``checkpoint`` and ``refresh`` hand out ``_submit``'s coroutine rather than awaiting
    # it in one of their own: one coroutine less alive per waiting operation (thousands
    # when a map's items all wait for their checkpoint).
    def checkpoint(self, update: OperationUpdate) -> Coroutine[Any, Any, None]:
        """Queue an update; the returned awaitable resolves once the service accepted it."""
        return self._submit(_UPDATE, update)

    def refresh(self) -> Coroutine[Any, Any, None]:
        """Send an empty checkpoint to learn what changed on the service side."""
        return self._submit(_Kind.REFRESH, None)

    async def flush(self) -> None:
        """Return once every update queued so far has been sent."""
        if self._stopped():
            return
        if not self._queue and not self._busy:
            return
        with suppress(TokenRevoked, CheckpointError, ExecutionStoppedError):
            await self._submit(_Kind.BARRIER, None)

    async def _submit(self, kind: _Kind, update: OperationUpdate | None) -> None:
        self._check_open()
        if update is not None and self._on_queue is not None:
            self._on_queue(update)
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.append(_Item(kind, update, future))
        self._urgent = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        await future

    def _stopped(self) -> bool:
        return self.failure is not None or self._sealed or self._outcome.state is _REVOKED

    def _check_open(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self._outcome.state is _REVOKED:
            raise TokenRevoked
        if self._sealed or self._closing:
            raise ExecutionStoppedError(
                "the execution already completed; no further checkpoint is accepted"
            )

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"aiodurable-checkpointer {self._arn}")

    async def close(self) -> None:
        """Send what is queued, then stop the flusher task."""
        await self.flush()
        self._closing = True
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        self._fail_pending(ExecutionStoppedError("the invocation ended"))

    # -- flusher -----------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            self._busy = True
            try:
                await self._send(batch)
            finally:
                self._busy = False
            if self._stopped():
                self._fail_pending(self.failure or TokenRevoked())
                return

    async def _collect(self) -> list[_Item]:
        queue = self._queue
        if not self._urgent:
            # Nothing queued, or nobody waits for what is: give a blocking update a
            # moment to join it.
            loop = self._loop
            self._waiter = loop.create_future()
            if queue and self._hold is None:
                self._hold = loop.call_later(self._idle_delay, self._held)
            try:
                await self._waiter
            finally:
                self._waiter = None
        # No extra yield here: every task made ready by the previous response has already
        # run (and enqueued) by the time this task is scheduled again.
        self._urgent = False
        first = queue.popleft()
        batch = [first]
        count = 0 if first.update is None else 1
        size = first.size
        max_bytes = self._max_bytes
        while queue and count < self._max_updates:
            item = queue[0]
            if item.update is not None and size + item.size > max_bytes:
                break
            batch.append(queue.popleft())
            size += item.size
            count += item.update is not None
        if queue:
            self._urgent = True  # more is queued: do not hold back before the next batch
        return batch

    def _held(self) -> None:
        """Holding back is over: send what is queued."""
        self._hold = None
        waiter = self._waiter
        if waiter is not None and self._queue and not waiter.done():
            waiter.set_result(None)

    async def _send(self, batch: list[_Item]) -> None:
        updates = [item.update for item in batch if item.update is not None]
        if not updates and all(item.kind is _Kind.BARRIER for item in batch):
            self._resolve(batch, None)
            return
        try:
            response = await self._client.checkpoint(self._arn, self._token, updates)
        except CheckpointError as exc:
            self._fail(batch, exc)
            return
        except Exception as exc:  # a client that does not classify its errors
            self._fail(
                batch,
                CheckpointError(
                    f"CheckpointDurableExecution failed for {self._arn}: {exc!r}",
                    retryable=True,
                    execution_arn=self._arn,
                ),
            )
            return
        self.stats.calls += 1
        self.stats.updates += len(updates)
        state = response.new_execution_state
        operations: list[Operation] = list(state.operations)
        if response.checkpoint_token:
            self._token = response.checkpoint_token
            marker = state.next_marker
            try:
                while marker:
                    page = await self._client.get_state(
                        self._arn, self._token, marker=marker, max_items=STATE_PAGE_SIZE
                    )
                    self.stats.state_pages += 1
                    operations.extend(page.operations)
                    marker = page.next_marker
            except CheckpointError as exc:
                self._fail(batch, exc)
                return
        elif any(update.type is OperationType.EXECUTION for update in updates):
            self._sealed = True
        else:
            self._outcome.revoke()
        if operations:
            self._on_operations(operations)
        if self._outcome.state is _REVOKED:
            self._resolve(batch, TokenRevoked())
        else:
            self._resolve(batch, None)

    def _fail(self, batch: list[_Item], error: BaseException) -> None:
        self.failure = error
        self._outcome.fail(error)
        self._resolve(batch, error)

    @staticmethod
    def _resolve(batch: list[_Item], error: BaseException | None) -> None:
        for item in batch:
            future = item.future
            if future is None or future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _fail_pending(self, error: BaseException) -> None:
        pending = list(self._queue)
        self._queue.clear()
        self._resolve(pending, error)
