"""Embedding: run durable workflows inside an existing aiohttp service.

Lambda is not the only thing that can invoke a durable handler: anything that receives
invocation envelopes can call ``await handler.run(event, client=...)`` on the event loop
it already has. This service exposes ``POST /invoke/{workflow}``: the body is an
invocation envelope, the response the output envelope. The service keeps one
aiobotocore Lambda client for its whole life and shares it between requests through
``LambdaServiceClient(client)``; tests hand it any other
:class:`~aiodurable.service.DurableServiceClient` (the local backend, for one).

Run the service (credentials and region come from the usual AWS configuration)::

    python -m examples.aiohttp_service

The workflow itself is an ordinary handler and runs locally like the others; its day
between the two emails passes at once on the virtual clock::

    aiodurable run examples.aiohttp_service:handler --input '{"user": "ana"}' --clock virtual
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import msgspec
from aiohttp import web

from aiodurable import DurableContext, DurableHandler, InvalidInvocationError, durable_execution
from aiodurable.service import DurableServiceClient, LambdaServiceClient


class Signup(msgspec.Struct):
    user: str


async def send_email(user: str, template: str) -> str:
    """Stand-in for the mail API; returns a message id."""
    return f"{template}-{user}"


@durable_execution
async def handler(signup: Signup, ctx: DurableContext) -> list[str]:
    """Welcome a new user now and nudge them a day later."""
    sent = [await ctx.step(send_email, signup.user, "welcome", name="welcome-email")]
    await ctx.wait(timedelta(days=1), name="one-day")
    sent.append(await ctx.step(send_email, signup.user, "tips", name="tips-email"))
    return sent


SERVICE = web.AppKey("durable_service", DurableServiceClient)
WORKFLOWS = web.AppKey("workflows", Mapping[str, DurableHandler[Any, Any]])


async def invoke(request: web.Request) -> web.Response:
    workflow = request.app[WORKFLOWS].get(request.match_info["workflow"])
    if workflow is None:
        raise web.HTTPNotFound(text=f"no workflow named {request.match_info['workflow']!r}")
    event = await request.json()
    try:
        output = await workflow.run(event, client=request.app[SERVICE])
    except InvalidInvocationError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    return web.json_response(output)


async def lambda_client(app: web.Application) -> AsyncIterator[None]:
    """One Lambda client (and connection pool) for the life of the service."""
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    async with get_session().create_client("lambda") as client:
        app[SERVICE] = LambdaServiceClient(client)
        yield


def create_app(service: DurableServiceClient | None = None) -> web.Application:
    """The service; without ``service`` it talks to AWS Lambda."""
    app = web.Application()
    app[WORKFLOWS] = {"signup": handler}
    if service is None:
        app.cleanup_ctx.append(lambda_client)
    else:
        app[SERVICE] = service
    app.router.add_post("/invoke/{workflow}", invoke)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), port=8080)
