"""What the UI's pages show and what its actions do, over plain HTTP (the browser test
drives the same pages through their script)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from html import unescape as html_unescape
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from aiodurable.local.records import ExecutionStatus
from aiodurable.local.ui import TOKEN_HEADER
from aiodurable.wire import ErrorObject

from .server import Served, serve_ui, with_history


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serve_ui() as served:
        yield served


def listed(html: str) -> list[str]:
    """Names of the executions in a list page, top to bottom."""
    return re.findall(r'class="execution-link" href="[^"]*">([^<]+)</a>', html)


def version(html: str) -> str:
    found = re.search(r'class="fragment" data-version="(\d+)"', html)
    assert found
    return found.group(1)


def op_rows(html: str) -> dict[str, tuple[int, list[str]]]:
    """Timeline rows: operation name -> (depth, the CSS kinds of its segments); a name
    shown before (a wait_for_callback's callback and submitter show its name) is keyed
    "name (kind)"."""
    rows: dict[str, tuple[int, list[str]]] = {}
    for row in re.findall(r'<div class="row op".*?</div></div>', html):
        name = re.search(r'<span class="name">([^<]+)</span>', row)
        kind = re.search(r'<span class="kind [^"]+">([^<]+)</span>', row)
        depth = re.search(r'data-depth="(\d+)"', row)
        assert name and kind and depth
        key = name.group(1) if name.group(1) not in rows else f"{name.group(1)} ({kind.group(1)})"
        rows[key] = (int(depth.group(1)), re.findall(r'class="seg ([^"]+)"', row))
    return rows


async def act(served: Served, action: str, **body: Any) -> tuple[int, dict[str, Any]]:
    _, page, _ = await served.page("/ui/")
    token = re.search(r'name="aiodurable-token" content="([^"]+)"', page)
    assert token
    headers = {TOKEN_HEADER: token.group(1)}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{served.url}/ui/api/{action}", json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


# -- the list ----------------------------------------------------------------------------
async def test_the_list_shows_status_function_start_and_duration(served: Served) -> None:
    await with_history(served)
    status, html, _ = await served.page("/ui/")
    assert status == 200
    assert listed(html) == ["order-1043", "order-1042", "order-1041", "order-1040"]  # newest first
    row = re.search(r'<tr data-arn="[^"]*order-1042.*?</tr>', html)
    assert row
    assert '<span class="badge succeeded">SUCCEEDED</span>' in row.group(0)
    assert "<td>approval</td>" in row.group(0)
    assert '<time datetime="2026-03-02T09:30:02+00:00">2026-03-02 09:30:02 UTC</time>' in row.group(
        0
    )
    assert '<td class="num">2.0 s</td>' in row.group(0)  # a 1 s retry delay and a 1 s wait
    assert "waiting for" in html and "callback approval" in html


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("status=RUNNING", ["order-1043"]),
        ("status=FAILED", ["order-1041"]),
        ("function=approval", ["order-1043", "order-1042", "order-1040"]),
        ("status=STOPPED", ["order-1040"]),
        ("function=failing&status=SUCCEEDED", []),
        ("status=NONSENSE", ["order-1043", "order-1042", "order-1041", "order-1040"]),
    ],
)
async def test_the_list_filters_by_status_and_function(
    served: Served, query: str, names: list[str]
) -> None:
    await with_history(served)
    _, page, _ = await served.page(f"/ui/?{query}")
    _, fragment, _ = await served.page(f"/ui/fragments/executions?{query}")
    assert listed(page) == listed(fragment) == names
    if not names:
        assert "No executions matching the filters yet." in fragment


async def test_the_list_refreshes_only_when_something_changed(served: Served) -> None:
    await with_history(served)
    _, html, _ = await served.page("/ui/fragments/executions")
    seen = version(html)
    status, unchanged, _ = await served.page(f"/ui/fragments/executions?since={seen}")
    assert (status, unchanged) == (204, "")
    served.start("failing", "o-9", name="order-9")
    status, fresh, _ = await served.page(f"/ui/fragments/executions?since={seen}")
    assert status == 200
    assert listed(fresh)[0] == "order-9"
    assert int(version(fresh)) > int(seen)


# -- an execution ------------------------------------------------------------------------
async def test_the_timeline_nests_contexts_and_shows_retries_waits_and_invocations(
    served: Served,
) -> None:
    waiting = await with_history(served)
    _, html, _ = await served.page("/ui/execution?arn=" + quote(waiting.arn))
    rows = op_rows(html)
    assert rows["reserve-items"] == (0, ["context"])  # the map
    assert rows["map-item-0"] == (1, ["context"])  # one iteration
    assert rows["reserve-book"] == (2, ["succeeded"])  # the step inside it
    assert rows["notify"][0] == 0 and rows["parallel-branch-1"][0] == 1 and rows["chat"][0] == 2
    assert rows["charge"] == (0, ["failed", "retry", "succeeded"])
    assert rows["cool-off"] == (0, ["wait"])
    assert rows["approval"][0] == 0 and rows["approval (callback)"] == (1, ["waiting"])
    assert "create callback id" not in html and "approval submitter" not in html
    assert "Answer approval<" in html
    # Three invocations: the first run, after the retry delay, after the wait.
    assert len(re.findall(r'<span class="seg invocation"', html)) == 3
    assert len(re.findall(r'class="marker"', html)) == 3
    # Drawn over four seconds: the retry delay, the wait and the wait for an answer take
    # one, one and two.
    for kind, width in (("retry", 25.0), ("wait", 25.0), ("waiting", 50.0)):
        drawn = re.search(
            rf'<span class="seg {kind}" data-left="[\d.]+" data-width="([\d.]+)"', html
        )
        assert drawn and float(drawn.group(1)) == pytest.approx(width), kind


@pytest.mark.parametrize(("items", "folded"), [(12, False), (13, True)])
async def test_a_large_map_starts_folded(served: Served, items: int, folded: bool) -> None:
    order = {"order_id": "o-11", "items": [f"item-{i}" for i in range(items)]}
    info = served.backend.start_execution("restock", json.dumps(order))
    await served.backend.wait_for_completion(info.arn)
    _, html, _ = await served.page("/ui/execution?arn=" + quote(info.arn))
    assert len(op_rows(html)) == 1 + 2 * items
    collapsed = re.findall(r'<div class="row op"[^>]*data-collapsed="true"[^>]*>', html)
    assert len(collapsed) == (1 if folded else 0)
    if folded:
        assert 'data-depth="0"' in collapsed[0]
    assert (
        f'<span class="name">reserve-items</span><span class="inside" title="operations directly inside">{items}</span>'
        in html
    )


async def test_the_page_shows_input_result_and_each_operations_details(served: Served) -> None:
    await with_history(served)
    done = served.backend.executions("approval", ["SUCCEEDED"])[0]
    _, html, _ = await served.page("/ui/execution?arn=" + quote(done.arn))
    assert (
        '<h2>Input</h2><pre class="payload">{\n  &quot;order_id&quot;: &quot;o-1042&quot;\n}'
        in html
    )
    result = re.search(r"<h2>Result</h2><pre class=\"payload\">(.*?)</pre>", html, re.S)
    assert result and json.loads(result.group(1).replace("&quot;", '"'))["approved_by"] == "grace"
    charge = next(op for op in served.backend.operations(done.arn) if op.name == "charge")
    detail = re.search(
        rf'<section class="op-detail" data-op="{charge.id}" hidden>.*?</section>', html
    )
    assert detail
    for shown in ("Attempt</th><td>2", "&quot;charged o-1042&quot;", "StepFailed", "StepSucceeded"):
        assert shown in detail.group(0)
    assert "Stop execution" not in html and "Answer this callback" not in html


async def test_an_error_shows_with_its_stack_trace(served: Served) -> None:
    info = served.start("approval", "o-5")
    callback_id = await served.until_waiting_for_callback(info.arn)
    trace = ['File "approver.py", line 12, in decide', "    raise Rejected(order)"]
    error = ErrorObject(error_type="Rejected", error_message="no budget left", stack_trace=trace)
    served.backend.send_callback_failure(callback_id, error)
    await served.backend.wait_for_completion(info.arn)
    _, html, _ = await served.page("/ui/execution?arn=" + quote(info.arn))
    panel = re.search(r"<h2>Error</h2>(.*?)</section>", html, re.S)
    assert panel
    assert "no budget left" in panel.group(0)
    assert (
        '<h4>Stack trace</h4><pre class="trace">File &quot;approver.py&quot;, line 12, in decide\n'
        "    raise Rejected(order)</pre>"
    ) in panel.group(0)
    status, _, _ = await served.page("/ui/execution?arn=arn:nope")
    assert status == 404


async def test_a_running_execution_offers_the_callback_forms_and_stop(served: Served) -> None:
    waiting = await with_history(served)
    _, html, _ = await served.page("/ui/execution?arn=" + quote(waiting.arn))
    assert '<div class="callout" id="waiting-for-you">' in html
    for action in ("callback/succeed", "callback/fail", "callback/heartbeat", "stop"):
        assert f'data-action="{action}"' in html
    prefilled = re.search(r'<textarea name="payload"[^>]*>([^<]*)</textarea>', html)
    assert prefilled and json.loads(html_unescape(prefilled[1]))  # JSON, not a bare word


# -- actions -----------------------------------------------------------------------------
async def test_start_an_execution_with_a_json_input(served: Served) -> None:
    status, answer = await act(
        served, "start", function="failing", input='{"order_id": "o-3"}', name="order-3"
    )
    assert status == 200
    info = served.backend.describe(answer["arn"])
    assert (info.name, info.function_name) == ("order-3", "failing")
    assert json.loads(info.input_payload or "") == {"order_id": "o-3"}
    assert answer["location"] == "/ui/execution?arn=" + quote(info.arn, safe="")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"function": "failing", "input": "{order}"}, "the input is not JSON"),
        ({"function": "nobody", "input": "{}"}, "nobody"),
        ({"function": "failing", "extra": 1}, "bad request body"),
    ],
)
async def test_a_bad_start_says_what_is_wrong(served: Served, body: Any, says: str) -> None:
    status, answer = await act(served, "start", **body)
    assert 400 <= status < 500
    assert says in answer["message"]
    assert served.backend.executions() == []


async def test_answer_a_callback_with_a_result(served: Served) -> None:
    info = served.start("approval", "o-4")
    callback_id = await served.until_waiting_for_callback(info.arn)
    status, answer = await act(served, "callback/succeed", callback_id=callback_id, payload="yes")
    assert status == 400 and 'a text needs quotes, as in "yes"' in answer["message"]
    status, _ = await act(served, "callback/succeed", callback_id=callback_id, payload='"bob"')
    assert status == 200
    done = await served.backend.wait_for_completion(info.arn)
    assert json.loads(done.result or "")["approved_by"] == "bob"


async def test_fail_a_callback_with_an_error_type_and_message(served: Served) -> None:
    info = served.start("approval", "o-6")
    callback_id = await served.until_waiting_for_callback(info.arn)
    status, _ = await act(
        served,
        "callback/fail",
        callback_id=callback_id,
        error_type="Rejected",
        error_message="over budget",
    )
    assert status == 200
    done = await served.backend.wait_for_completion(info.arn)
    assert done.status is ExecutionStatus.FAILED
    assert done.error is not None and done.error.error_message == "over budget"
    status, answer = await act(served, "callback/fail", callback_id=callback_id)
    assert status >= 400 and answer["message"]


async def test_a_heartbeat_keeps_a_callback_alive() -> None:
    async with serve_ui(auto_advance=False) as served:
        info = served.start("shipment", "o-8")
        callback_id = await served.until_waiting_for_callback(info.arn)
        served.backend.advance(50)
        status, _ = await act(served, "callback/heartbeat", callback_id=callback_id)
        assert status == 200
        served.backend.advance(50)  # 100 s after the start, 50 s after the heartbeat
        assert served.backend.describe(info.arn).status is ExecutionStatus.RUNNING
        served.backend.advance(11)  # 61 s without a heartbeat
        done = await served.backend.wait_for_completion(info.arn)
        assert done.status is ExecutionStatus.FAILED
        assert done.error is not None and "heartbeat" in (done.error.error_type or "").lower()


async def test_stop_an_execution(served: Served) -> None:
    info = served.start("approval", "o-10")
    await served.until_waiting_for_callback(info.arn)
    status, _ = await act(served, "stop", arn=info.arn)
    assert status == 200
    stopped = served.backend.describe(info.arn)
    assert stopped.status is ExecutionStatus.STOPPED
    assert stopped.error is not None
    assert stopped.error.error_message == "Stopped from the aiodurable UI"
    status, answer = await act(served, "stop", arn=info.arn)
    assert status == 400 and "already ended with status STOPPED" in answer["message"]


async def test_no_ui_serves_only_the_api() -> None:
    async with serve_ui(ui=False) as served:
        for path in ("/", "/ui/", "/ui/static/ui.js"):
            status, text, _ = await served.page(path)
            assert status == 404 and "aiodurable-token" not in text
