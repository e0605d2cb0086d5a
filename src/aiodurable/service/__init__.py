"""Service clients: the protocol and its aiobotocore implementation."""

from aiodurable.service.base import DurableServiceClient

__all__ = ["DurableServiceClient", "LambdaServiceClient"]


def __getattr__(name: str) -> object:
    # The AWS client stack is imported only when it is used (cold start, PROTOCOL-free tests).
    if name == "LambdaServiceClient":
        from aiodurable.service.lambda_client import LambdaServiceClient

        return LambdaServiceClient
    raise AttributeError(name)
