"""The durable execution service on AWS Lambda, through aiobotocore.

aioboto3's newest release pins a botocore that predates the durable execution APIs
(botocore 1.40 has no ``CheckpointDurableExecution``), while aiobotocore ≥ 3 ships one
that has them; so this client talks to aiobotocore directly, and any Lambda client made
by aiobotocore or aioboto3 can be passed in instead (README, "Why aiobotocore and not
aioboto3"). Revisit when aioboto3 moves its pin.

Only this module (and :mod:`aiodurable.service.errors`) imports the AWS stack, and
:mod:`aiodurable.service` loads it on first use, so ``import aiodurable`` stays light.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from random import random as _uniform_fraction
from types import TracebackType
from typing import Any, Self, TypeVar

import msgspec

from aiodurable._version import __version__
from aiodurable.service.errors import Failure, classify
from aiodurable.wire import CheckpointResponse, ExecutionState, OperationUpdate

__all__ = ["BackoffPolicy", "LambdaServiceClient"]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: The botocore method behind each API name.
_METHODS = {
    "CheckpointDurableExecution": "checkpoint_durable_execution",
    "GetDurableExecutionState": "get_durable_execution_state",
}

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 50.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffPolicy:
    """How one API call is retried after throttling, a 5xx or a network error.

    The delay before attempt ``n + 1`` is drawn uniformly from
    ``[0, min(max_delay, base_delay * 2 ** (n - 1))]`` ("full jitter"). Errors that
    resending cannot fix (a 4xx, a KMS error, a stale checkpoint token) are never retried.

    ``sleep`` and ``random`` exist so that tests need not wait::

        BackoffPolicy(max_attempts=3, sleep=fake_sleep, random=lambda: 1.0)
    """

    max_attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 2.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = _uniform_fraction

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return self.random() * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))


class LambdaServiceClient:
    """:class:`~aiodurable.service.DurableServiceClient` backed by an aiobotocore Lambda client.

    Make one with :meth:`create`, which owns the underlying client and closes it::

        async with await LambdaServiceClient.create(region_name="us-east-1") as service:
            ...

    or wrap a Lambda client you already have (aiobotocore or aioboto3); it stays yours
    to close, and its own retry settings apply underneath ``backoff`` (turn them down
    with ``retries={"total_max_attempts": 1}`` to avoid retrying twice)::

        async with session.create_client("lambda") as lambda_client:
            service = LambdaServiceClient(lambda_client)

    Every failure raises :class:`aiodurable.errors.CheckpointError`, classified per
    docs/protocol.md §5.9. Throttling, 5xx and network errors are retried per ``backoff``;
    each checkpoint carries one ``ClientToken`` across its retries, so a retry of a
    call that the service already applied returns that call's response.
    """

    def __init__(self, client: Any, *, backoff: BackoffPolicy | None = None) -> None:
        self._client = client
        self._backoff = backoff or BackoffPolicy()
        self._exit_stack: AsyncExitStack | None = None
        # Idempotency tokens: 128 random bits per client, then a counter. Unique per
        # logical call without a system call for randomness on every checkpoint.
        self._token_prefix = secrets.token_hex(16)
        self._token_counter = itertools.count(1)

    @classmethod
    async def create(
        cls,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
        config: Any = None,
        backoff: BackoffPolicy | None = None,
    ) -> LambdaServiceClient:
        """Create and open a Lambda client of its own.

        ``session`` is an aiobotocore ``AioSession`` or an aioboto3 ``Session`` (default: a
        new aiobotocore session, which reads credentials and region the usual way).
        ``config`` (a botocore ``Config``) is merged over ours: connect timeout 5 s, read
        timeout 50 s, botocore's own retries off, ``aiodurable/<version>`` in the user
        agent. Without ``endpoint_url``, botocore's configuration decides, including
        ``AWS_ENDPOINT_URL_LAMBDA`` and ``AWS_ENDPOINT_URL``.
        """
        from aiodurable.service.aiohttp_import import import_aiohttp

        import_aiohttp()  # before aiobotocore imports it: see that module
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
        from aiobotocore.session import get_session  # type: ignore[import-untyped]

        from aiodurable.service.http_session import TLSOnDemandSession

        client_config = AioConfig(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            user_agent_extra=f"aiodurable/{__version__}",
            # One attempt per botocore call: BackoffPolicy retries, knowing which errors
            # are worth it and keeping the checkpoint's ClientToken.
            retries={"mode": "standard", "total_max_attempts": 1},
            # aiobotocore's aiohttp session, without a CA bundle for plain-HTTP endpoints.
            http_session_cls=TLSOnDemandSession,
        )
        if config is not None:
            client_config = client_config.merge(config)
        if session is None:
            from aiodurable.service.models import use_fast_loader

            session = get_session()
            use_fast_loader(session)
        # aiobotocore sessions have create_client(); aioboto3 sessions have client().
        make_client = getattr(session, "create_client", None) or session.client
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            make_client(
                "lambda", region_name=region_name, endpoint_url=endpoint_url, config=client_config
            )
        )
        service = cls(client, backoff=backoff)
        service._exit_stack = stack
        return service

    async def close(self) -> None:
        """Close the underlying client if :meth:`create` made it; safe to call twice."""
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        *,
        client_token: str | None = None,
    ) -> CheckpointResponse:
        """Send ``updates`` with ``CheckpointDurableExecution`` (docs/protocol.md §5.1).

        ``client_token`` is the idempotency token (1–64 printable ASCII characters); by
        default a fresh one is made for this call and reused by its retries.
        """
        params = {
            "DurableExecutionArn": execution_arn,
            "CheckpointToken": checkpoint_token,
            "Updates": msgspec.to_builtins(list(updates)),
            "ClientToken": client_token or f"{self._token_prefix}-{next(self._token_counter)}",
        }
        return await self._call(
            "CheckpointDurableExecution", execution_arn, params, CheckpointResponse
        )

    async def get_state(
        self,
        execution_arn: str,
        checkpoint_token: str,
        *,
        marker: str,
        max_items: int = 1000,
    ) -> ExecutionState:
        """Read one page of operations with ``GetDurableExecutionState`` (docs/protocol.md §5.1)."""
        params = {
            "DurableExecutionArn": execution_arn,
            "CheckpointToken": checkpoint_token,
            "Marker": marker,
            "MaxItems": max_items,
        }
        return await self._call("GetDurableExecutionState", execution_arn, params, ExecutionState)

    async def _call(
        self, operation: str, execution_arn: str, params: dict[str, Any], result: type[_T]
    ) -> _T:
        if not params["CheckpointToken"]:
            # The service would reject it; the next invocation brings a fresh token
            # (docs/protocol.md §5.2).
            failure = Failure(
                retryable=True,
                transient=False,
                detail="the checkpoint token is empty, so the request was not sent",
            )
            raise failure.to_error(operation, execution_arn, attempts=1)
        method = getattr(self._client, _METHODS[operation])
        attempt = 1
        while True:
            try:
                response: dict[str, Any] = await method(**params)
            except Exception as exc:
                failure = classify(exc)
                if not failure.transient or attempt >= self._backoff.max_attempts:
                    raise failure.to_error(operation, execution_arn, attempts=attempt) from exc
            else:
                return _decode(response, result, operation, execution_arn)
            delay = self._backoff.delay(attempt)
            _log.warning(
                "%s for execution %s failed (%s); attempt %d of %d in %.2f s",
                operation,
                execution_arn,
                failure.detail,
                attempt + 1,
                self._backoff.max_attempts,
                delay,
            )
            await self._backoff.sleep(delay)
            attempt += 1


def _decode(response: dict[str, Any], result: type[_T], operation: str, execution_arn: str) -> _T:
    # botocore has already parsed timestamps into aware datetimes; strict=False lets
    # msgspec accept the odd number-as-string too. Unknown members (ResponseMetadata) are
    # skipped by the conversion.
    try:
        return msgspec.convert(response, result, strict=False)
    except msgspec.ValidationError as exc:
        failure = Failure(
            retryable=False,
            transient=False,
            detail=f"the response does not match the durable execution API: {exc}",
        )
        raise failure.to_error(operation, execution_arn, attempts=1) from exc
