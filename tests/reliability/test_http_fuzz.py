"""Property-based fuzzing of every route of the local backend's HTTP server.

Whatever a client sends — malformed JSON, values of the wrong type, huge or unicode
strings, missing fields, bogus ARNs (percent-encoded or not), foreign, stale or made-up
tokens and callback ids, odd query parameters, wrong methods — the server answers with
a 2xx, or with a 4xx whose JSON body names the error type and says what is wrong. It
never answers 5xx, never lets an exception escape to aiohttp, never hangs.

One server (a ``LocalBackend`` with a registered durable handler behind a
``LocalHttpServer`` on an ephemeral loopback port) and one ``ClientSession`` serve the
whole module. They live on an event loop this thread owns: each Hypothesis example runs
its request to completion on it with ``run_until_complete``, and the backend's tasks
(its scheduler, the held invocations) stay suspended on that loop between examples.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDictProxy
from yarl import URL

from aiodurable import DurableContext, durable_execution
from aiodurable.local import LocalBackend, VirtualClock
from aiodurable.local.http import LocalHttpServer
from aiodurable.wire import (
    CallbackOptions,
    OperationAction,
    OperationType,
    OperationUpdate,
    WaitOptions,
)
from tests.local.held import HeldTarget, Invocation
from tests.reliability.fuzz_budget import CASES

#: A request still unanswered after this long is a hang.
REQUEST_TIMEOUT = 30.0
ACCOUNT = "123456789012"

fuzz = settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@durable_execution
async def echo(event: Any, ctx: DurableContext) -> Any:
    return event


# -- the server under test ------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass
class Held:
    """An execution whose invocation stays open, so its checkpoint token stays current."""

    invocation: Invocation
    token: str
    spent: list[str] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return self.invocation.arn

    def advance(self, token: str) -> None:
        self.spent = [*self.spent[-3:], self.token]
        self.token = token


class _ServerErrors(logging.Handler):
    """Collects what the server logs at ERROR or above (aiohttp's unhandled exceptions)."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(self.format(record))


class FuzzedServer:
    """The backend, its HTTP server and a client session, on a loop this thread drives."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.problems: list[str] = []
        self.held = HeldTarget()
        self.open_callbacks: list[str] = []
        self.closed_callbacks: list[str] = []
        self._callback_ids = itertools.count()
        self._closing = asyncio.Event()
        self._owner: asyncio.Task[None] | None = None

    # lifecycle
    def __enter__(self) -> FuzzedServer:
        self.loop.set_exception_handler(
            lambda loop, context: self.problems.append(str(context.get("exception", context)))
        )
        ready = self.loop.create_future()
        self._owner = self.loop.create_task(self._serve(ready))
        self.loop.run_until_complete(
            asyncio.wait([ready, self._owner], return_when=asyncio.FIRST_COMPLETED)
        )
        if self._owner.done():
            self._owner.result()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._owner is not None
        self._closing.set()
        try:
            self.loop.run_until_complete(self._owner)
        finally:
            self.loop.close()

    async def _serve(self, ready: asyncio.Future[None]) -> None:
        async with (
            # Virtual time that never moves on its own: no timer fires during the fuzz.
            LocalBackend(
                clock=VirtualClock(auto_advance=False),
                functions={"echo": echo, "held": self.held},
            ) as backend,
            LocalHttpServer(backend, port=0) as server,
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
        ):
            self.backend, self.session = backend, session
            self.base = URL(server.endpoint_url)
            self.live = await self._hold()
            self.other = await self._hold()
            self.ended = await self._ended_invocation()
            self.done = await self._completed_execution()
            ready.set_result(None)
            await self._closing.wait()

    @property
    def healthy(self) -> bool:
        """The backend's task group is still up (nothing crashed it)."""
        return self._owner is not None and not self._owner.done()

    # executions the cases refer to
    async def _hold(self) -> Held:
        arn = self.backend.start_execution("held", "{}").arn
        while (invocation := await self.held.next()).arn != arn:
            invocation.finish({"Status": "PENDING"})
        return Held(invocation, invocation.token)

    async def _ended_invocation(self) -> Held:
        """A running execution whose invocation returned: its last token is dead."""
        held = await self._hold()
        nap = OperationUpdate(
            id="nap",
            type=OperationType.WAIT,
            action=OperationAction.START,
            wait_options=WaitOptions(wait_seconds=3600),
        )
        response = self.backend.checkpoint_now(held.arn, held.token, [nap])
        assert response.checkpoint_token is not None
        held.advance(response.checkpoint_token)
        held.invocation.finish({"Status": "PENDING"})
        await self.backend.wait_until(lambda: not self.backend.is_invoking(held.arn))
        return held

    async def _completed_execution(self) -> Held:
        held = await self._hold()
        end = OperationUpdate(
            id="end",
            type=OperationType.EXECUTION,
            action=OperationAction.SUCCEED,
            payload='"done"',
        )
        self.backend.checkpoint_now(held.arn, held.token, [end])
        held.invocation.finish({"Status": "SUCCEEDED", "Result": '"done"'})
        await self.backend.wait_until(lambda: not self.backend.is_invoking(held.arn))
        return held

    def refresh(self) -> None:
        """Replace a held execution a case ended (or grew large) by a fresh one."""
        self.loop.run_until_complete(self._refresh())

    async def _refresh(self) -> None:
        for name in ("live", "other"):
            held: Held = getattr(self, name)
            if self.backend.describe(held.arn).status.value == "RUNNING":
                if len(self.backend.operations(held.arn)) < 32:
                    continue
                self.backend.stop_execution(held.arn)
            held.invocation.finish({"Status": "PENDING"})
            self.closed_callbacks.extend(self.open_callbacks if name == "live" else ())
            if name == "live":
                self.open_callbacks.clear()
            setattr(self, name, await self._hold())

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on the server's loop (the backend's signals need it)."""

        async def call() -> Any:
            return function(*args)

        return self.loop.run_until_complete(call())

    def replace_deleted(self) -> None:
        """Give the finished executions a case deleted a successor of the same kind."""
        known = {info.arn for info in self.backend.executions()}
        if self.done.arn not in known:
            self.done = self.loop.run_until_complete(self._completed_execution())
        if self.ended.arn not in known:
            self.ended = self.loop.run_until_complete(self._ended_invocation())

    def open_callback(self) -> str:
        """A started callback of the live execution, nobody having completed it yet."""
        if not self.open_callbacks:
            self.loop.run_until_complete(self._start_callback())
        return self.open_callbacks[-1]

    async def _start_callback(self) -> None:
        live = self.live
        start = OperationUpdate(
            id=f"callback-{next(self._callback_ids)}",
            type=OperationType.CALLBACK,
            action=OperationAction.START,
            callback_options=CallbackOptions(timeout_seconds=0, heartbeat_timeout_seconds=0),
        )
        response = self.backend.checkpoint_now(live.arn, live.token, [start])
        assert response.checkpoint_token is not None
        live.advance(response.checkpoint_token)
        (op,) = [op for op in response.new_execution_state.operations if op.id == start.id]
        assert op.callback_details is not None and op.callback_details.callback_id
        self.open_callbacks.append(op.callback_details.callback_id)

    def holder(self, arn: str) -> Held | None:
        return next((h for h in (self.live, self.other) if h.arn == arn), None)

    # requests
    def send(
        self,
        method: str,
        path: str,
        *,
        encoded: bool = False,
        query: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request, wait for its answer, and check the answer's contract."""
        url = self.base.with_path(path, encoded=encoded)
        if query:
            url = url.with_query(query)
        self.problems.clear()
        reply = self.loop.run_until_complete(self._send(method, url, body, headers))
        shown = f"{method} {str(url)[:300]} body={(body or b'')[:300]!r}"
        assert not self.problems, f"{shown}: the server failed:\n{self.problems[0]}"
        assert reply.status < 500, f"{shown}: {reply.status} {reply.body[:500]!r}"
        if reply.status >= 300:
            assert reply.status < 500
            assert reply.headers.get("x-amzn-ErrorType"), f"{shown}: no error type header"
            error = json.loads(reply.body)
            assert isinstance(error, dict), f"{shown}: error body {reply.body[:300]!r}"
            assert isinstance(error.get("Type"), str) and error["Type"], f"{shown}: {error}"
            message = error.get("message")
            assert isinstance(message, str) and message.strip(), f"{shown}: {error}"
        return reply

    async def _send(
        self, method: str, url: URL, body: bytes | None, headers: dict[str, str] | None
    ) -> Reply:
        try:
            async with (
                asyncio.timeout(REQUEST_TIMEOUT),
                self.session.request(method, url, data=body, headers=headers) as response,
            ):
                return Reply(response.status, response.headers, await response.read())
        except TimeoutError:
            pytest.fail(f"{method} {url} got no answer within {REQUEST_TIMEOUT} s")


@pytest.fixture(scope="module")
def server() -> Iterator[FuzzedServer]:
    problems: list[str] = []
    handler = _ServerErrors(problems)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with FuzzedServer() as served:
            served.problems = problems
            yield served
            assert served.healthy, "the backend's task group ended during the fuzz"
    finally:
        root.removeHandler(handler)


def run_cases(
    fuzz_cases: dict[str, int],
    route: str,
    strategy: st.SearchStrategy[Any],
    case: Callable[..., None],
) -> None:
    """Run ``case`` on ``CASES`` examples of ``strategy`` and record how many ran."""
    count = 0

    @fuzz
    @given(strategy)
    def one(example: Any) -> None:
        nonlocal count
        count += 1
        case(example)

    one()
    fuzz_cases[route] = count
    assert count >= CASES


# -- hostile values -----------------------------------------------------------------------
#: Text up to 100,000 characters of one (possibly multi-byte or special) character.
long_text = st.builds(operator.mul, st.sampled_from('xé😀\x00"\\/%'), st.integers(0, 100_000))
short_text = st.text(max_size=24)
texts = short_text | long_text

ODD_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**63,
    -(2**63) - 1,
    10**400,
    1e308,
    "",
    " ",
    "\x00",
    "\ud800",
    "😀" * 40,
    "null",
    [],
    {},
    [1, "a", None],
    {"a": {"b": [None]}},
)
#: A JSON value of any kind, likely the wrong one where it lands.
junk = st.sampled_from(ODD_VALUES) | texts | st.integers() | st.floats()

#: Query parameter values: numbers in odd spellings, timestamps, garbage.
ODD_NUMBERS = (
    "0",
    "1",
    "-1",
    "99",
    "1000",
    "1001",
    "+1",
    " 1",
    "1.0",
    "1e3",
    "0x10",
    "²",
    "١٢",
    "९",
    "9" * 20,
    "",
    "true",
    "false",
    "TRUE",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "1e20",
    "-1e20",
    "1767225600",
    "1767225600.5",
    "2026-01-01T00:00:00Z",
    "2026-01-01",
    "9999-12-31T23:59:59",
    "0001-01-01",
    "é",
    "😀",
    "%",
    "a=b&c",
    "\x00",
    "SUCCEEDED",
    "RUNNING",
    "bogus",
)
QUERY_KEYS = (
    "MaxItems",
    "Marker",
    "CheckpointToken",
    "IncludeExecutionData",
    "ReverseOrder",
    "Statuses",
    "StartedAfter",
    "StartedBefore",
    "DurableExecutionName",
    "",
    "x",
)
# One draw per parameter: Hypothesis spends most of a case's time per draw.
QUERY_PARAMETERS = [(key, value) for key in QUERY_KEYS for value in ODD_NUMBERS]
#: One digit more than int() parses. Two of them would not fit in aiohttp's 8 KiB request
#: line, which its HTTP parser refuses (a plain-text 400) before the application sees it.
TOO_MANY_DIGITS = "9" * 4301
queries = st.lists(st.sampled_from(QUERY_PARAMETERS), max_size=3) | st.sampled_from(
    [[("MaxItems", TOO_MANY_DIGITS)], [("Marker", TOO_MANY_DIGITS)]]
)


def methods(right: str) -> st.SearchStrategy[str]:
    """Mostly the route's method, sometimes another one."""
    wrong = [m for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS") if m != right]
    return st.sampled_from([right] * len(wrong) + wrong)


def raw_json(value: Any) -> bytes:
    return json.dumps(value).encode()


#: Request bodies that are not JSON objects at all.
junk_bodies = (
    st.binary(max_size=64)
    | st.builds(raw_json, junk)
    | st.integers(1, 100_000).map(lambda depth: b"[" * depth + b"]" * (depth % 3))
    | st.sampled_from(
        [b"", b"{", b"{}", b"[]", b"NaN", b'{"a":1,"a":2}', b"\xff\xfe", b"\xef\xbb\xbf{}"]
    )
)


# -- references to the server's executions, tokens and callbacks ----------------------------
ARN_KINDS = (
    "live",
    "other",
    "ended",
    "done",
    "text",
    "live+text",
    "live-truncated",
    "other-account",
    "template",
)


def resolve_arn(server: FuzzedServer, kind: str, text: str) -> str:
    live = server.live.arn
    return {
        "live": live,
        "other": server.other.arn,
        "ended": server.ended.arn,
        "done": server.done.arn,
        "text": text,
        "live+text": live + text,
        "live-truncated": live[:-1],
        "other-account": live.replace(ACCOUNT, "210987654321"),
        "template": (
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:held:$LATEST/durable-execution/"
            f"{text}/{text}"
        ),
    }[kind]


@dataclass(frozen=True)
class ArnRef:
    kind: str
    text: str
    encoded: bool

    def path(self, server: FuzzedServer, prefix: str, suffix: str = "") -> tuple[str, bool]:
        """The request path with this ARN as one label: percent-encoded, or sent raw."""
        arn = resolve_arn(server, self.kind, self.text)
        label = quote(arn, safe="") if self.encoded else arn
        return f"{prefix}/{label}{suffix}", self.encoded


arns = st.sampled_from(
    [ArnRef(kind, "", encoded) for kind in ARN_KINDS for encoded in (True, False)]
) | st.builds(ArnRef, st.sampled_from(["text", "live+text", "template"]), short_text, st.booleans())

TOKEN_KINDS = (
    "current",
    "spent",
    "foreign",
    "ended",
    "completed",
    "forged",
    "base64",
    "text",
    "empty",
)


@dataclass(frozen=True)
class TokenRef:
    kind: str
    text: str

    def resolve(self, server: FuzzedServer) -> str:
        live = server.live
        return {
            "current": live.token,
            "spent": (live.spent or [server.ended.spent[0]])[-1],
            "foreign": server.other.token,
            "ended": server.ended.token,
            "completed": server.done.token,
            # What the backend's tokens look like, with a guessed sequence and nonce.
            "forged": _b64(f"{live.arn}\n{len(live.spent) + 1}\n{self.text}"),
            "base64": _b64(self.text),
            "text": self.text,
            "empty": "",
        }[self.kind]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


tokens = st.builds(TokenRef, st.sampled_from(TOKEN_KINDS), short_text)

CALLBACK_KINDS = ("open", "closed", "made-up", "text", "open+text", "open-upper", "open-prefix")


@dataclass(frozen=True)
class CallbackRef:
    kind: str
    text: str
    encoded: bool

    def resolve(self, server: FuzzedServer) -> str:
        if self.kind == "text":
            return self.text
        if self.kind == "made-up":
            return self.text.encode().hex()[:48].ljust(48, "0")
        if self.kind == "closed" and server.closed_callbacks:
            return server.closed_callbacks[-1]
        opened = server.open_callback()
        return {
            "open+text": opened + self.text,
            "open-upper": opened.upper(),
            "open-prefix": opened[:24],
        }.get(self.kind, opened)


callbacks = st.builds(CallbackRef, st.sampled_from(CALLBACK_KINDS), short_text, st.booleans())

FUNCTION_KINDS = (
    "echo",
    "arn",
    "qualified",
    "partial",
    "other-account",
    "other-region",
    "unknown",
    "text",
)


@dataclass(frozen=True)
class FunctionRef:
    kind: str
    text: str
    encoded: bool

    def label(self) -> str:
        name = {
            "echo": "echo",
            "arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:echo",
            "qualified": "echo:$LATEST",
            "partial": f"{ACCOUNT}:function:echo",
            "other-account": "arn:aws:lambda:us-east-1:210987654321:function:echo",
            "other-region": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:echo",
            "unknown": "no-such-function",
            "text": self.text,
        }[self.kind]
        return quote(name, safe="") if self.encoded else name


# "held" is left out on purpose: its invocations never return, so a synchronous Invoke of
# it would (rightly) wait forever, as Lambda's would until the function timed out.
functions = st.builds(FunctionRef, st.sampled_from(FUNCTION_KINDS), short_text, st.booleans())


# -- checkpoint bodies ----------------------------------------------------------------------
UPDATE_TEMPLATES: tuple[dict[str, Any], ...] = (
    {"Type": "STEP", "SubType": "Step", "Name": "charge", "Action": "START"},
    {"Type": "STEP", "SubType": "Step", "Name": "charge", "Action": "SUCCEED", "Payload": '"ok"'},
    {"Type": "STEP", "Action": "FAIL", "Error": {"ErrorType": "E", "ErrorMessage": "m"}},
    {
        "Type": "STEP",
        "Action": "RETRY",
        "Error": {"ErrorMessage": "again"},
        "StepOptions": {"NextAttemptDelaySeconds": 5},
    },
    {"Type": "WAIT", "SubType": "Wait", "Action": "START", "WaitOptions": {"WaitSeconds": 60}},
    {"Type": "WAIT", "Action": "CANCEL"},
    {
        "Type": "CALLBACK",
        "SubType": "Callback",
        "Action": "START",
        "CallbackOptions": {"TimeoutSeconds": 0, "HeartbeatTimeoutSeconds": 0},
    },
    {
        "Type": "CHAINED_INVOKE",
        "SubType": "ChainedInvoke",
        "Action": "START",
        "Payload": "{}",
        "ChainedInvokeOptions": {"FunctionName": "echo"},
    },
    {"Type": "CONTEXT", "SubType": "RunInChildContext", "Action": "START"},
    {
        "Type": "CONTEXT",
        "Action": "SUCCEED",
        "Payload": "1",
        "ContextOptions": {"ReplayChildren": False},
    },
    {"Type": "EXECUTION", "Action": "SUCCEED", "Payload": '"done"'},
    {"Type": "EXECUTION", "Action": "FAIL", "Error": {"ErrorMessage": "no"}},
)
#: Where a mutation lands: a field of the update, or a field inside one of its objects.
UPDATE_FIELDS = (
    ("Id",),
    ("Type",),
    ("Action",),
    ("SubType",),
    ("Name",),
    ("ParentId",),
    ("Payload",),
    ("Error",),
    ("Error", "ErrorMessage"),
    ("Error", "StackTrace"),
    ("StepOptions",),
    ("StepOptions", "NextAttemptDelaySeconds"),
    ("WaitOptions", "WaitSeconds"),
    ("CallbackOptions", "TimeoutSeconds"),
    ("ChainedInvokeOptions", "FunctionName"),
    ("ChainedInvokeOptions", "TenantId"),
    ("ContextOptions", "ReplayChildren"),
)
_DROP = object()
operation_ids = st.sampled_from(["a", "b", "callback-0", "nap", "end"]) | short_text


def _mutated(
    template: dict[str, Any], op_id: str, mutations: list[tuple[tuple[str, ...], Any]]
) -> Any:
    update: dict[str, Any] = {**template, "Id": op_id}
    for path, value in mutations:
        target = update
        for key in path[:-1]:
            inner = target.get(key)
            target[key] = inner = dict(inner) if isinstance(inner, dict) else {}
            target = inner
        if value is _DROP:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
    return update


updates = st.builds(
    _mutated,
    st.sampled_from(UPDATE_TEMPLATES),
    operation_ids,
    st.lists(st.tuples(st.sampled_from(UPDATE_FIELDS), junk | st.just(_DROP)), max_size=2),
)


@dataclass(frozen=True)
class CheckpointBody:
    token: TokenRef | None
    updates: Any
    client_token: Any
    junk: bytes | None

    def encode(self, server: FuzzedServer) -> bytes:
        if self.junk is not None:
            return self.junk
        body: dict[str, Any] = {"Updates": self.updates}
        if self.token is not None:
            body["CheckpointToken"] = self.token.resolve(server)
        if self.client_token is not _DROP:
            body["ClientToken"] = self.client_token
        return raw_json(body)


checkpoint_bodies = st.builds(
    CheckpointBody,
    st.none() | tokens,
    st.lists(updates, max_size=3) | junk,
    st.just(_DROP) | junk,
    st.none() | st.none() | junk_bodies,
)

error_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "ErrorType": junk,
            "ErrorMessage": junk,
            "ErrorData": junk,
            "StackTrace": st.lists(short_text, max_size=3) | junk,
        },
    ).map(raw_json)
    | junk_bodies
)


# -- the routes -----------------------------------------------------------------------------
EXECUTIONS = "/2025-12-01/durable-executions"
CALLBACKS = "/2025-12-01/durable-execution-callbacks"


def test_checkpoint_durable_execution(server: FuzzedServer, fuzz_cases: dict[str, int]) -> None:
    def case(example: tuple[str, ArnRef, CheckpointBody, list[tuple[str, str]]]) -> None:
        method, arn, body, query = example
        server.refresh()
        path, encoded = arn.path(server, EXECUTIONS, "/checkpoint")
        target = server.holder(resolve_arn(server, arn.kind, arn.text))
        token = body.token.resolve(server) if body.token else None
        reply = server.send(method, path, encoded=encoded, query=query, body=body.encode(server))
        current = target is not None and token == target.token
        if not current:
            assert reply.status >= 400, "a token that is not current checkpointed"
        elif reply.status == 200:
            assert target is not None
            next_token = json.loads(reply.body).get("CheckpointToken")
            if next_token:
                target.advance(next_token)

    strategy = st.tuples(methods("POST"), arns, checkpoint_bodies, queries)
    run_cases(fuzz_cases, "CheckpointDurableExecution", strategy, case)


def test_get_durable_execution_state(server: FuzzedServer, fuzz_cases: dict[str, int]) -> None:
    def case(example: tuple[str, ArnRef, TokenRef | None, list[tuple[str, str]]]) -> None:
        method, arn, token, query = example
        server.refresh()
        path, encoded = arn.path(server, EXECUTIONS, "/state")
        target = server.holder(resolve_arn(server, arn.kind, arn.text))
        resolved = token.resolve(server) if token else None
        if resolved is not None:
            query = [("CheckpointToken", resolved), *query]
        reply = server.send(method, path, encoded=encoded, query=query)
        if target is None or resolved != target.token:
            assert reply.status >= 400, "state was read without the execution's current token"

    strategy = st.tuples(methods("GET"), arns, st.none() | tokens, queries)
    run_cases(fuzz_cases, "GetDurableExecutionState", strategy, case)


def test_get_durable_execution(server: FuzzedServer, fuzz_cases: dict[str, int]) -> None:
    def case(example: tuple[str, ArnRef, list[tuple[str, str]]]) -> None:
        method, arn, query = example
        path, encoded = arn.path(server, EXECUTIONS)
        reply = server.send(method, path, encoded=encoded, query=query)
        if reply.status == 200:
            described = json.loads(reply.body)["DurableExecutionArn"]
            assert described == resolve_arn(server, arn.kind, arn.text)

    strategy = st.tuples(methods("GET"), arns, queries)
    run_cases(fuzz_cases, "GetDurableExecution", strategy, case)


def test_get_durable_execution_history(server: FuzzedServer, fuzz_cases: dict[str, int]) -> None:
    def case(example: tuple[str, ArnRef, list[tuple[str, str]]]) -> None:
        method, arn, query = example
        path, encoded = arn.path(server, EXECUTIONS, "/history")
        reply = server.send(method, path, encoded=encoded, query=query)
        if reply.status == 200:
            assert isinstance(json.loads(reply.body)["Events"], list)

    strategy = st.tuples(methods("GET"), arns, queries)
    run_cases(fuzz_cases, "GetDurableExecutionHistory", strategy, case)


def test_list_durable_executions_by_function(
    server: FuzzedServer, fuzz_cases: dict[str, int]
) -> None:
    def case(example: tuple[str, FunctionRef | None, list[tuple[str, str]]]) -> None:
        method, function, query = example
        label = function.label() if function else "held"
        encoded = function.encoded if function else False
        path = f"/2025-12-01/functions/{label}/durable-executions"
        reply = server.send(method, path, encoded=encoded, query=query)
        if reply.status == 200:
            assert isinstance(json.loads(reply.body)["DurableExecutions"], list)

    strategy = st.tuples(methods("GET"), st.none() | functions, queries)
    run_cases(fuzz_cases, "ListDurableExecutionsByFunction", strategy, case)


def test_stop_durable_execution(server: FuzzedServer, fuzz_cases: dict[str, int]) -> None:
    def case(example: tuple[str, ArnRef, bytes, list[tuple[str, str]]]) -> None:
        method, arn, body, query = example
        server.refresh()
        path, encoded = arn.path(server, EXECUTIONS, "/stop")
        reply = server.send(method, path, encoded=encoded, query=query, body=body)
        if arn.kind in ("ended", "done") and arn.encoded and method == "POST":
            # "ended" is still running until a case stops it; "done" never is.
            assert reply.status >= 400 or arn.kind == "ended"

    strategy = st.tuples(methods("POST"), arns, error_bodies, queries)
    run_cases(fuzz_cases, "StopDurableExecution", strategy, case)


pause_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "ClientToken": st.sampled_from(["t-1", "t-2"]) | junk,
            "Reason": junk,
            "ExecutionTimeoutPaused": st.booleans() | junk,
        },
    ).map(raw_json)
    | junk_bodies
)


def _unpause(server: FuzzedServer) -> None:
    """Resume what a case paused, so that the other routes' cases find it running."""
    for held in (server.live, server.other, server.ended):
        if server.backend.describe(held.arn).status.value in ("PAUSING", "PAUSED"):
            server.call(server.backend.resume_execution, held.arn)


def _client_token(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # the fuzz sends anything, deeply nested too
        return None
    token = parsed.get("ClientToken") if isinstance(parsed, dict) else None
    return token if isinstance(token, str) else None


def _pause_case(server: FuzzedServer, action: str) -> Callable[[Any], None]:
    #: (execution, token) pairs already sent: the service answers a repeated ClientToken
    #: (within 15 minutes) as it did the first time, without acting again.
    sent: set[tuple[str, str]] = set()

    def case(example: tuple[str, ArnRef, bytes, bool, list[tuple[str, str]]]) -> None:
        method, arn, body, paused_first, query = example
        server.refresh()
        target = resolve_arn(server, arn.kind, arn.text)
        running = arn.kind in ("live", "other", "ended") and (
            server.backend.describe(target).status.value == "RUNNING"
        )
        if paused_first and running:
            server.call(server.backend.pause_execution, target)
        before = server.backend.executions()
        path, encoded = arn.path(server, EXECUTIONS, f"/{action}")
        reply = server.send(method, path, encoded=encoded, query=query, body=body)
        token = _client_token(body)
        repeated = token is not None and (target, token) in sent
        if token is not None and reply.status == 202:
            sent.add((target, token))
        if reply.status == 202 and not repeated:
            status = server.backend.describe(target).status.value
            wanted = ("PAUSING", "PAUSED") if action == "pause" else ("RUNNING",)
            assert status in wanted, f"{action} answered 202 and left it {status}"
        elif reply.status >= 400:
            assert server.backend.executions() == before, f"a refused {action} changed things"
        _unpause(server)

    return case


def test_pause_durable_execution(server: FuzzedServer, fuzz_cases: dict[str, int]) -> None:
    strategy = st.tuples(methods("POST"), arns, pause_bodies, st.booleans(), queries)
    run_cases(fuzz_cases, "PauseDurableExecution", strategy, _pause_case(server, "pause"))


def test_resume_durable_execution(server: FuzzedServer, fuzz_cases: dict[str, int]) -> None:
    strategy = st.tuples(methods("POST"), arns, pause_bodies, st.booleans(), queries)
    run_cases(fuzz_cases, "ResumeDurableExecution", strategy, _pause_case(server, "resume"))


def test_delete_durable_execution(server: FuzzedServer, fuzz_cases: dict[str, int]) -> None:
    def case(example: tuple[str, ArnRef, list[tuple[str, str]]]) -> None:
        method, arn, query = example
        server.refresh()
        target = resolve_arn(server, arn.kind, arn.text)
        path, encoded = arn.path(server, EXECUTIONS)
        # A DELETE has no body; botocore's signature headers pass the cross-site check.
        headers = {"X-Amz-Date": "20260101T000000Z"}
        reply = server.send(method, path, encoded=encoded, query=query, headers=headers)
        if method == "DELETE" and arn.kind in ("live", "other") and arn.encoded:
            assert reply.status == 409, f"a running execution: {reply.status} {reply.body!r}"
        if method == "DELETE" and reply.status == 202:
            assert target not in {i.arn for i in server.backend.executions()}
            server.replace_deleted()

    strategy = st.tuples(methods("DELETE"), arns, queries)
    run_cases(fuzz_cases, "DeleteDurableExecution", strategy, case)


def _callback_case(server: FuzzedServer, action: str) -> Callable[[Any], None]:
    def case(example: tuple[str, CallbackRef, bytes, list[tuple[str, str]]]) -> None:
        method, callback, body, query = example
        server.refresh()
        callback_id = callback.resolve(server)
        label = quote(callback_id, safe="") if callback.encoded else callback_id
        reply = server.send(
            method,
            f"{CALLBACKS}/{label}/{action}",
            encoded=callback.encoded,
            query=query,
            body=body,
        )
        if callback.kind == "made-up" and method == "POST":
            assert reply.status >= 400, "a made-up callback id was accepted"
        if reply.status == 200 and action != "heartbeat" and callback_id in server.open_callbacks:
            server.open_callbacks.remove(callback_id)
            server.closed_callbacks.append(callback_id)

    return case


callback_results = (
    st.binary(max_size=64)
    | st.builds(raw_json, junk)
    | st.sampled_from([b"", b'"approved"', b"\xff", "😀".encode() * 100])
)


def test_send_durable_execution_callback_success(
    server: FuzzedServer, fuzz_cases: dict[str, int]
) -> None:
    strategy = st.tuples(methods("POST"), callbacks, callback_results, queries)
    run_cases(
        fuzz_cases,
        "SendDurableExecutionCallbackSuccess",
        strategy,
        _callback_case(server, "succeed"),
    )


def test_send_durable_execution_callback_failure(
    server: FuzzedServer, fuzz_cases: dict[str, int]
) -> None:
    strategy = st.tuples(methods("POST"), callbacks, error_bodies, queries)
    run_cases(
        fuzz_cases, "SendDurableExecutionCallbackFailure", strategy, _callback_case(server, "fail")
    )


def test_send_durable_execution_callback_heartbeat(
    server: FuzzedServer, fuzz_cases: dict[str, int]
) -> None:
    strategy = st.tuples(methods("POST"), callbacks, st.binary(max_size=16), queries)
    run_cases(
        fuzz_cases,
        "SendDurableExecutionCallbackHeartbeat",
        strategy,
        _callback_case(server, "heartbeat"),
    )


header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("é\t"), max_size=70
)
invoke_headers = st.fixed_dictionaries(
    {},
    optional={
        "X-Amz-Invocation-Type": st.sampled_from(
            ["Event", "RequestResponse", "DryRun", "event", ""]
        )
        | header_text,
        "X-Amz-Durable-Execution-Name": st.sampled_from(["run-1", "run-2", "run-3"]) | header_text,
        "Content-Type": st.sampled_from(["application/json", "text/plain", "x/y; charset=latin-1"]),
    },
)
invoke_bodies = (
    st.builds(raw_json, junk)
    | junk_bodies
    | st.sampled_from([b'{"order_id": "o-1"}', b"[1, 2]", b'"text"', b"null"])
)


def test_invoke(server: FuzzedServer, fuzz_cases: dict[str, int]) -> None:
    def case(
        example: tuple[str, FunctionRef, bytes, dict[str, str], list[tuple[str, str]]],
    ) -> None:
        method, function, body, headers, query = example
        path = f"/2015-03-31/functions/{function.label()}/invocations"
        server.send(method, path, encoded=function.encoded, query=query, body=body, headers=headers)

    strategy = st.tuples(methods("POST"), functions, invoke_bodies, invoke_headers, queries)
    run_cases(fuzz_cases, "Invoke", strategy, case)


# -- what the fuzz found, pinned ------------------------------------------------------------
def _live_state(server: FuzzedServer, parameter: str, value: str) -> Reply:
    path = f"{EXECUTIONS}/{quote(server.live.arn, safe='')}/state"
    query = [("CheckpointToken", server.live.token), (parameter, value)]
    return server.send("GET", path, encoded=True, query=query)


@pytest.mark.parametrize(
    ("parameter", "value"), [("MaxItems", "²"), ("Marker", "²"), ("Marker", TOO_MANY_DIGITS)]
)
def test_a_count_that_int_cannot_parse_is_a_400(
    server: FuzzedServer, parameter: str, value: str
) -> None:
    assert _live_state(server, parameter, value).status == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{EXECUTIONS}/x/checkpoint", b"[" * 100_000),  # deeper than the JSON decoder's stack
        ("/2015-03-31/functions/echo/invocations", b"x" * (8 * 1024 * 1024 + 1)),
        (f"{EXECUTIONS}/\n", None),  # a path the catch-all route used to miss
        (f"{EXECUTIONS}/x/checkpoint", b'"\x80"'),  # a JSON string that is not UTF-8
    ],
    ids=["deep-json", "over-8-MiB", "newline-in-path", "not-utf-8"],
)
def test_a_body_or_path_the_server_cannot_take_is_a_json_4xx(
    server: FuzzedServer, path: str, body: bytes | None
) -> None:
    assert 400 <= server.send("POST", path, body=body).status < 500


@pytest.mark.parametrize("when", ["1e20", "inf", "-1e20"])
def test_a_start_time_out_of_range_is_a_400(server: FuzzedServer, when: str) -> None:
    path = "/2025-12-01/functions/held/durable-executions"
    assert server.send("GET", path, query=[("StartedAfter", when)]).status == 400


def test_a_lone_surrogate_in_a_body_is_a_400_and_changes_nothing(server: FuzzedServer) -> None:
    # json.loads decodes "\ud800"; no store or response can encode it afterwards.
    running = server.other.arn
    path = f"{EXECUTIONS}/{quote(running, safe='')}/stop"
    reply = server.send("POST", path, encoded=True, body=b'{"ErrorMessage": "\\ud800"}')

    assert reply.status == 400
    assert server.backend.describe(running).status.value == "RUNNING"
