"""Service clients: the protocol and its aiobotocore implementation."""

from typing import TYPE_CHECKING, Any

from aiodurable.service.base import DurableServiceClient

if TYPE_CHECKING:
    from aiodurable.service.lambda_client import BackoffPolicy, LambdaServiceClient

__all__ = ["BackoffPolicy", "DurableServiceClient", "LambdaServiceClient"]


def __getattr__(name: str) -> Any:
    # The Lambda client is imported when first used: ``import aiodurable`` stays cheap on a
    # cold start and needs no AWS stack.
    if name in ("LambdaServiceClient", "BackoffPolicy"):
        from aiodurable.service import lambda_client

        return getattr(lambda_client, name)
    raise AttributeError(name)
