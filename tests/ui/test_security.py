"""The UI is safe by default: every state change needs the per-server token that only a
page of this origin can read, and nothing in the UI is reachable from another origin."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from aiodurable.local.records import ExecutionStatus
from aiodurable.local.ui import TOKEN_HEADER

from .server import Served, serve_ui

EVIL = "http://attacker.example"
#: What a browser adds to a request a page on another site makes with fetch().
CROSS_SITE_FETCH = {
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Dest": "empty",
}


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serve_ui() as served:
        yield served


async def token_of(served: Served) -> str:
    status, text, _ = await served.page("/ui/")
    assert status == 200
    found = re.search(r'<meta name="aiodurable-token" content="([^"]+)">', text)
    assert found, "the page embeds the token for its own script"
    return found.group(1)


async def post(served: Served, action: str, body: Any, **headers: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{served.url}/ui/api/{action}", data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


async def running(served: Served) -> str:
    info = served.start("approval", "o-7")
    await served.until_waiting_for_callback(info.arn)
    return info.arn


# -- the token ---------------------------------------------------------------------------
async def test_a_state_change_with_the_token_of_the_page_goes_through(served: Served) -> None:
    arn = await running(served)
    token = await token_of(served)
    body = json.dumps({"arn": arn})
    status, _ = await post(
        served, "stop", body, **{"Content-Type": "application/json", TOKEN_HEADER: token}
    )
    assert status == 200
    assert served.backend.describe(arn).status is ExecutionStatus.STOPPED


@pytest.mark.parametrize("sent", [None, "", "guessed", "x" * 43])
async def test_a_state_change_without_the_right_token_is_refused(
    served: Served, sent: str | None
) -> None:
    arn = await running(served)
    headers = {"Content-Type": "application/json"}
    if sent is not None:
        headers[TOKEN_HEADER] = sent
    status, text = await post(served, "stop", json.dumps({"arn": arn}), **headers)
    assert status == 403
    assert TOKEN_HEADER in json.loads(text)["message"]
    assert served.backend.describe(arn).status is ExecutionStatus.RUNNING


async def test_each_server_makes_its_own_token() -> None:
    async with serve_ui() as one, serve_ui() as other:
        first, second = await token_of(one), await token_of(other)
        assert first != second and len(first) >= 32
        arn = await running(other)
        status, _ = await post(
            other,
            "stop",
            json.dumps({"arn": arn}),
            **{"Content-Type": "application/json", TOKEN_HEADER: first},
        )
        assert status == 403


# -- other origins ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
    ids=["foreign-origin", "opaque-origin", "cross-site", "same-site"],
)
async def test_a_state_change_from_another_origin_is_refused_even_with_the_token(
    served: Served, headers: dict[str, str]
) -> None:
    arn = await running(served)
    token = await token_of(served)
    headers = {**headers, "Content-Type": "application/json", TOKEN_HEADER: token}
    status, _ = await post(served, "stop", json.dumps({"arn": arn}), **headers)
    assert status == 403
    assert served.backend.describe(arn).status is ExecutionStatus.RUNNING


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
)
async def test_what_a_cross_site_form_can_send_is_refused(
    served: Served, content_type: str
) -> None:
    arn = await running(served)
    token = await token_of(served)
    status, _ = await post(
        served, "stop", f"arn={arn}", **{"Content-Type": content_type, TOKEN_HEADER: token}
    )
    assert status in (403, 415)  # the server's own guard answers 415 before the UI's
    assert served.backend.describe(arn).status is ExecutionStatus.RUNNING


@pytest.mark.parametrize(
    "path", ["/ui/", "/ui/fragments/executions", "/ui/static/ui.js", "/ui/static/ui.css"]
)
async def test_another_site_can_neither_fetch_nor_embed_the_ui(served: Served, path: str) -> None:
    for dest in ("empty", "iframe", "script", "style"):
        mode = "cors" if dest == "empty" else "no-cors"
        headers = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": dest}
        status, text, answer = await served.page(path, headers={**headers, "Origin": EVIL})
        assert status == 403, dest
        assert "aiodurable-token" not in text
        assert "Access-Control-Allow-Origin" not in answer


async def test_a_link_from_another_site_opens_the_page_but_cannot_read_it(
    served: Served,
) -> None:
    navigate = {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "document",
    }
    status, _, headers = await served.page("/ui/", headers=navigate)
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


async def test_no_cors_preflight_is_granted(served: Served) -> None:
    preflight = {
        "Origin": EVIL,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": f"content-type,{TOKEN_HEADER.lower()}",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.options(f"{served.url}/ui/api/stop", headers=preflight) as response,
    ):
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Headers" not in response.headers


async def test_every_ui_answer_forbids_framing_and_cross_origin_reads(served: Served) -> None:
    arn = await running(served)
    answers = [
        await served.page("/ui/"),
        await served.page(f"/ui/execution?arn={arn}"),
        await served.page("/ui/fragments/executions"),
        await served.page("/ui/static/ui.js"),
        await served.page("/ui/execution?arn=nope"),
        await served.page("/ui/static/nothing.js"),
        await served.page("/ui/no-such-page"),
        await served.page("/ui/api/nothing", method="POST"),
        await served.page("/ui/", headers=CROSS_SITE_FETCH),
        await served.page("/", allow_redirects=False),
    ]
    assert [status for status, _, _ in answers[4:8]] == [404, 404, 404, 404]
    for _, _, headers in answers:
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert headers["X-Content-Type-Options"] == "nosniff"


async def test_a_page_with_another_host_name_is_refused_dns_rebinding(served: Served) -> None:
    for path in ("/ui/", "/ui/static/ui.js"):
        status, text, _ = await served.page(path, headers={"Host": "attacker.example"})
        assert status == 403
        assert "aiodurable-token" not in text


async def test_the_pages_carry_no_inline_script(served: Served) -> None:
    """The content security policy allows only the shipped script; an execution's values
    (names, payloads, errors) are escaped, so they cannot add one."""
    info = served.backend.start_execution(
        "failing", json.dumps({"order_id": "<script>alert(1)</script>"}), name="xss"
    )
    await served.backend.wait_for_completion(info.arn)
    for path in ("/ui/", f"/ui/execution?arn={info.arn}"):
        _, text, _ = await served.page(path)
        scripts = re.findall(r"<script[^>]*>", text)
        assert scripts == ['<script src="/ui/static/ui.js" defer>']
        assert not re.search(r"<[^>]+\son\w+=", text), "no inline event handlers"
    _, text, _ = await served.page(f"/ui/execution?arn={info.arn}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
