"""A plain Lambda Invoke endpoint in its own process: ``python invoke_shim.py``.

It serves ``POST /2015-03-31/functions/{name}/invocations`` for two functions and prints
``PORT <n>`` once listening: ``shim-echo`` (a durable aiodurable handler, checkpointing to
``AWS_ENDPOINT_URL_LAMBDA`` as on Lambda) and ``shim-plain`` (a plain function; one that
raises answers as Lambda does, with ``X-Amz-Function-Error``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiohttp import web

from aiodurable import DurableContext, durable_execution


@durable_execution
async def shim_echo(event: Any, ctx: DurableContext) -> dict[str, Any]:
    pid = await ctx.step(os.getpid, name="pid")
    return {"shim": event, "pid": pid}


def shim_plain(payload: Any) -> Any:
    if payload == "fail":
        raise ValueError("the plain function refused")
    return {"plain": payload, "pid": os.getpid()}


async def invoke(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    event = await request.json()
    try:
        if name == "shim-echo":
            return web.json_response(await shim_echo.run(event))
        return web.json_response(shim_plain(event))
    except Exception as error:
        return web.json_response(
            {"errorType": type(error).__name__, "errorMessage": str(error)},
            headers={"X-Amz-Function-Error": "Unhandled"},
        )


async def main() -> None:
    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print("PORT", runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
