"""The attack corpus: what an attacker sends, against the course's secured routes and the ch07 solutions.

Targets, each on its own real uvicorn server:

* the course app: ``/ws/secure`` (first message), ``/ws/query`` and ``/ws/protocol``
  (credentials in the handshake), ``/ws/cookie`` (cookie + Origin allowlist);
* solutions/ch07_first_message_auth.py (``/secure``), solutions/ch07_origin_check.py
  (``/feed``) and solutions/ch07_rate_limit.py (``/chat``), served with
  ``ws_max_size=64 KiB`` as the chapter recommends.

Every case ends with its documented answer (an HTTP status, or a close code with a
reason, or an error frame with a detail), and then a new client on the same server is
still served. A bystander that connected first must still be answered at the end.
Every log line the servers wrote (uvicorn at INFO) is scanned for the tokens and
message bodies the corpus sent: none may appear, and no handler may crash.

Deadlines are shortened (AUTH_TIMEOUT = 1 s) so the whole corpus runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.sync.client import ClientConnection as SyncConnection
from websockets.sync.client import connect as sync_connect

from course_app.app import create_app
from course_app.chapters import ch07_auth
from course_app.grading.checks._ws_outcome import Outcome, attempt, ending
from course_app.logcapture import LogRecords, capture_logs
from course_app.realtime.codes import CloseCode
from course_app.security.forgery import forged_tokens
from course_app.security.tokens import issue_token
from course_app.server import BackgroundServer

# One worker runs the whole module, in order (pytest-xdist --dist loadgroup): its last tests read what the earlier ones left (the captured logs, the bystanders).
pytestmark = pytest.mark.xdist_group("attack-corpus")

R = TypeVar("R")
ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 1.0
WAIT = 4.0
BODY = "BODY-SECRET-do-not-log-7f3a"  # every message body the corpus sends contains this


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(asyncio.wait_for(coro, 30))


# -- the servers and what they log ----------------------------------------------------------

@dataclass
class Targets:
    course: BackgroundServer
    first_message: BackgroundServer
    origin: BackgroundServer
    rate: BackgroundServer
    logs: LogRecords
    tokens: set[str]
    bystanders: dict[str, SyncConnection]


def _solution(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"corpus_{name}", ROOT / "solutions" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _handshake_lines_logged() -> None:
    """Ask for uvicorn's handshake lines before every test of the corpus: other tests that run on the
    same xdist worker in between start servers of their own, and every uvicorn start sets the
    process-wide ``uvicorn.error`` level back to its own (warning), which would hide them."""
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)


@pytest.fixture(scope="module")
def targets() -> Iterator[Targets]:
    first = _solution("ch07_first_message_auth")
    first.AUTH_TIMEOUT = DEADLINE
    saved = ch07_auth.AUTH_TIMEOUT
    ch07_auth.AUTH_TIMEOUT = DEADLINE
    uvicorn_log = logging.getLogger("uvicorn.error")
    level = uvicorn_log.level
    uvicorn_log.setLevel(logging.INFO)  # the handshake lines, with paths and query strings
    small = {"ws_max_size": 64 * 1024}
    stack_loggers: list[logging.Logger] = []
    try:
        with capture_logs("", logging.DEBUG) as logs, \
                BackgroundServer(create_app()) as course, \
                BackgroundServer(first.app, **small) as first_message, \
                BackgroundServer(_solution("ch07_origin_check").app, **small) as origin, \
                BackgroundServer(_solution("ch07_rate_limit").app, **small) as rate:
            uvicorn_log.setLevel(logging.INFO)  # uvicorn sets its logger's level when it starts
            # Also at the source: a record that stops propagating on its way to the root (another
            # test in this worker process may have changed the logging tree) is still scanned.
            for name in ("uvicorn.error", "uvicorn.access"):
                stack_loggers.append(logging.getLogger(name))
                stack_loggers[-1].addHandler(logs)
            found = Targets(course, first_message, origin, rate, logs, set(), {})
            with ExitStack() as stack:
                found.bystanders = _bystanders(found, stack)
                yield found
    finally:
        for logger in stack_loggers:
            logger.removeHandler(logs)
        ch07_auth.AUTH_TIMEOUT = saved
        uvicorn_log.setLevel(level)


def _bystanders(targets: Targets, stack: ExitStack) -> dict[str, SyncConnection]:
    """Connected before the first attack, asked for an answer after the last one (sync clients: they
    outlive each test's event loop)."""
    opened: dict[str, SyncConnection] = {}
    for name, url, first in [
        ("course", targets.course.ws_url + "/ws/secure", json.dumps({"token": _token(targets, "bob")})),
        ("first_message", targets.first_message.ws_url + "/secure", json.dumps({"token": _token(targets, "bob")})),
        ("rate", targets.rate.ws_url + "/chat", None),
    ]:
        ws = stack.enter_context(sync_connect(url, max_queue=None))  # buffers what it does not read yet
        opened[name] = ws
        if first is not None:
            ws.send(first)
            assert "authenticated" in str(ws.recv(timeout=WAIT))
    cookie = {"Cookie": f"{ch07_auth.COOKIE}={_token(targets, 'bob')}"}
    opened["cookie"] = stack.enter_context(sync_connect(
        targets.course.ws_url + "/ws/cookie", origin=targets.course.url, additional_headers=cookie, max_queue=None))  # type: ignore[arg-type]
    assert "authenticated" in str(opened["cookie"].recv(timeout=WAIT))
    return opened


@pytest.fixture(autouse=True)
def no_handler_crashed(targets: Targets) -> Iterator[None]:
    before = len(targets.logs.records)
    yield
    errors = [r.getMessage() for r in targets.logs.records[before:] if r.levelno >= logging.ERROR]
    assert not errors, errors


def _token(targets: Targets, user: str = "alice", **options: Any) -> str:
    token = issue_token(user, **options)
    targets.tokens.add(token)
    return token


async def _first_message_session(url: str, token: str) -> ClientConnection:
    ws = await connect(url, ping_interval=None)
    await ws.send(json.dumps({"token": token}))
    hello = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert hello["status"] == "authenticated", hello
    return ws


async def _still_served(targets: Targets, target: str) -> None:
    """A new, honest client on the same server gets its answer."""
    if target in ("course", "first_message"):
        server = targets.course if target == "course" else targets.first_message
        path = "/ws/secure" if target == "course" else "/secure"
        ws = await _first_message_session(server.ws_url + path, _token(targets, "bob"))
        async with ws:
            await ws.send(json.dumps({"room": "general", "text": "still there?"}) if target == "course" else "still there?")
            reply = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            assert reply.get("text") == "still there?", reply
    elif target == "origin":
        outcome = await attempt(targets.origin.ws_url + "/feed", origin="https://app.example.com",
                                headers={"Cookie": "session=bob"}, wait=0.3)
        assert outcome.frames and json.loads(outcome.frames[0])["type"] == "inbox", outcome.describe()
    else:
        async with connect(targets.rate.ws_url + "/chat", ping_interval=None) as ws:
            await ws.send("still there?")
            assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "echo", "text": "still there?"}


def _expect(outcome: Outcome, *, code: int | None = None, http: int | None = None) -> None:
    if http is not None:
        assert outcome.http_status == http, outcome.describe()
        return
    assert outcome.code == code, outcome.describe()
    assert outcome.reason, "every close carries a reason: " + outcome.describe()
    assert not [f for f in outcome.frames if "authenticated" in str(f)], "nothing before the close: " + outcome.describe()


# -- 1. first-message auth: the course's /ws/secure and the exercise solution ------------------

FIRST_MESSAGE_TARGETS = {"course": "/ws/secure", "first_message": "/secure"}
FORGED = [name for name in forged_tokens() if name != "empty string"]


def _url(targets: Targets, target: str) -> str:
    server = targets.course if target == "course" else targets.first_message
    return server.ws_url + FIRST_MESSAGE_TARGETS[target]


@pytest.mark.parametrize("target", FIRST_MESSAGE_TARGETS)
@pytest.mark.parametrize("forgery", FORGED)
def test_a_forged_or_expired_token_is_closed_with_4001(targets: Targets, target: str, forgery: str) -> None:
    token = forged_tokens()[forgery]
    targets.tokens.add(token)
    outcome = run(attempt(_url(targets, target), first=json.dumps({"token": token}), then=[BODY], wait=WAIT))
    _expect(outcome, code=CloseCode.UNAUTHORIZED)
    run(_still_served(targets, target))


MALFORMED: dict[str, str | bytes] = {
    "binary first frame": json.dumps({"token": "x"}).encode(),
    "invalid JSON": "{token: " + BODY,
    "a JSON list": json.dumps([BODY]),
    "no token field": json.dumps({"tok": BODY}),
    "a token that is a number": json.dumps({"token": 7}),
    "a token that is null": json.dumps({"token": None}),
}


@pytest.mark.parametrize("target", FIRST_MESSAGE_TARGETS)
@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_first_message_is_closed_with_1008(targets: Targets, target: str, case: str) -> None:
    outcome = run(attempt(_url(targets, target), first=MALFORMED[case], wait=WAIT))
    _expect(outcome, code=CloseCode.POLICY_VIOLATION)
    run(_still_served(targets, target))


@pytest.mark.parametrize("target", FIRST_MESSAGE_TARGETS)
def test_no_token_at_all_is_closed_with_4002(targets: Targets, target: str) -> None:
    outcome = run(attempt(_url(targets, target), wait=WAIT))
    _expect(outcome, code=CloseCode.AUTH_TIMEOUT)
    run(_still_served(targets, target))


@pytest.mark.parametrize("target", FIRST_MESSAGE_TARGETS)
def test_a_valid_token_after_the_deadline_is_too_late(targets: Targets, target: str) -> None:
    async def late() -> Outcome:
        async with connect(_url(targets, target), ping_interval=None) as ws:
            await asyncio.sleep(DEADLINE * 1.5)
            try:
                await ws.send(json.dumps({"token": _token(targets)}))
            except Exception:  # noqa: BLE001 - already closed: ending() reports how
                pass
            return await ending(ws, WAIT)

    _expect(run(late()), code=CloseCode.AUTH_TIMEOUT)
    run(_still_served(targets, target))


@pytest.mark.parametrize("target", FIRST_MESSAGE_TARGETS)
def test_a_first_message_dripped_one_byte_per_second_runs_out_of_time(targets: Targets, target: str) -> None:
    async def drip() -> Outcome:
        async def fragments() -> AsyncIterator[str]:
            for char in json.dumps({"token": _token(targets)}):
                yield char
                await asyncio.sleep(1.0)

        async with connect(_url(targets, target), ping_interval=None) as ws:
            sender = asyncio.create_task(ws.send(fragments()))
            try:
                return await ending(ws, WAIT)
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)

    _expect(run(drip()), code=CloseCode.AUTH_TIMEOUT)
    run(_still_served(targets, target))


@pytest.mark.parametrize("target", FIRST_MESSAGE_TARGETS)
def test_an_oversized_first_message_is_closed_with_1009(targets: Targets, target: str) -> None:
    # The course route caps messages at 4096 bytes itself; the solution relies on ws_max_size (64 KiB).
    huge = json.dumps({"token": "A" * 100_000})
    outcome = run(attempt(_url(targets, target), first=huge, wait=WAIT))
    _expect(outcome, code=CloseCode.MESSAGE_TOO_BIG)
    run(_still_served(targets, target))


# -- 2. credentials in the handshake: /ws/query and /ws/protocol ----------------------------------

HANDSHAKE_CASES = ["no token", "garbage", "expired", "signed with another key", "alg none", "payload swapped, signature kept"]


def _handshake_token(case: str) -> str | None:
    return None if case == "no token" else forged_tokens()[case]


@pytest.mark.parametrize("case", HANDSHAKE_CASES)
def test_query_route_refuses_bad_tokens_at_the_handshake(targets: Targets, case: str) -> None:
    token = _handshake_token(case)
    if token:
        targets.tokens.add(token)
    url = targets.course.ws_url + "/ws/query" + (f"?token={token}" if token else "")
    _expect(run(attempt(url, wait=WAIT)), http=403)
    run(_still_served(targets, "course"))


@pytest.mark.parametrize("case", HANDSHAKE_CASES)
def test_protocol_route_refuses_bad_tokens_at_the_handshake(targets: Targets, case: str) -> None:
    token = _handshake_token(case)
    if token:
        targets.tokens.add(token)
    offered = ["bearer", token] if token else ["bearer"]
    _expect(run(attempt(targets.course.ws_url + "/ws/protocol", subprotocols=offered, wait=WAIT)), http=403)
    run(_still_served(targets, "course"))


# -- 3. Origins: the course's /ws/cookie and the exercise solution --------------------------------

def _bad_origins(ours: str) -> list[str | None]:
    host = ours.split("://", 1)[1]
    return [
        "https://evil.test",
        ours + ".evil.test",
        f"http://evil-{host}",
        ours.replace("http://", "https://") if ours.startswith("http://") else ours.replace("https://", "http://"),
        ours[:-1],
        ours + "0",
        ours.upper(),
        ours + "/",
        "null",
        None,
    ]


@pytest.mark.parametrize("index", range(10))
def test_course_cookie_route_refuses_wrong_and_look_alike_origins(targets: Targets, index: int) -> None:
    origin = _bad_origins(targets.course.url)[index]
    cookie = {"Cookie": f"{ch07_auth.COOKIE}={_token(targets)}"}
    _expect(run(attempt(targets.course.ws_url + "/ws/cookie", origin=origin, headers=cookie, wait=WAIT)), http=403)
    run(_still_served(targets, "course"))


@pytest.mark.parametrize("index", range(10))
def test_origin_solution_refuses_wrong_and_look_alike_origins(targets: Targets, index: int) -> None:
    origin = _bad_origins("https://app.example.com")[index]
    outcome = run(attempt(targets.origin.ws_url + "/feed", origin=origin, headers={"Cookie": "session=alice"}, wait=WAIT))
    _expect(outcome, http=403)
    run(_still_served(targets, "origin"))


def test_course_cookie_route_refuses_a_missing_or_forged_cookie_from_our_own_origin(targets: Targets) -> None:
    for cookie in [{}, {"Cookie": f"{ch07_auth.COOKIE}={forged_tokens()['alg none']}"}]:
        outcome = run(attempt(targets.course.ws_url + "/ws/cookie", origin=targets.course.url, headers=cookie, wait=WAIT))
        _expect(outcome, http=403)
    run(_still_served(targets, "course"))


# -- 4. after authentication: authorization, refresh, caps, floods ---------------------------------

def test_per_message_authorization_cannot_be_bypassed(targets: Targets) -> None:
    async def probe() -> list[Any]:
        ws = await _first_message_session(targets.course.ws_url + "/ws/secure", _token(targets, "bob"))
        answers = []
        async with ws:
            for message in [
                {"room": "ops", "text": BODY},  # not a member
                {"room": "OPS", "text": BODY},  # case
                {"room": "ops ", "text": BODY},  # padding
                {"room": ["ops"], "text": BODY},  # wrong type
                {"room": "general", "text": BODY, "from": "alice"},  # spoofed sender: ignored
                {"type": "refresh", "token": _token(targets, "alice")},  # someone else's token
            ]:
                await ws.send(json.dumps(message))
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT)))
        return answers

    answers = run(probe())
    assert [a.get("error") for a in answers[:4]] == ["forbidden", "forbidden", "forbidden", "bad_message"], answers
    assert all(a.get("detail") for a in answers[:4] + answers[5:])
    assert answers[4] == {"type": "message", "room": "general", "from": "bob", "text": BODY}
    assert answers[5]["error"] == "forbidden"
    run(_still_served(targets, "course"))


def test_a_hundred_connections_from_one_user_get_five(targets: Targets) -> None:
    async def crowd() -> list[Outcome]:
        token = _token(targets, "alice")
        url = targets.course.ws_url + "/ws/secure"
        opened = [await connect(url, ping_interval=None) for _ in range(100)]
        try:
            for ws in opened:
                await ws.send(json.dumps({"token": token}))
            return list(await asyncio.gather(*(ending(ws, 1.5) for ws in opened)))
        finally:
            await asyncio.gather(*(ws.close() for ws in opened))

    outcomes = run(crowd())
    served = [o for o in outcomes if o.still_open]
    refused = [o for o in outcomes if not o.still_open]
    assert len(served) == ch07_auth.MAX_CONNECTIONS_PER_USER
    assert all(o.code == CloseCode.TRY_AGAIN_LATER and "try again later" in o.reason for o in refused), refused[0].describe()
    run(_still_served(targets, "course"))


def _flood_kinds(frames: list[str | bytes]) -> list[str]:
    return [json.loads(f).get("error", json.loads(f).get("type", "?")) for f in frames]


def test_a_flood_on_the_course_route_gets_error_frames_then_1008(targets: Targets) -> None:
    async def flood() -> Outcome:
        ws = await _first_message_session(targets.course.ws_url + "/ws/secure", _token(targets))
        async with ws:
            for i in range(200):
                await ws.send(json.dumps({"room": "general", "text": f"{BODY} {i}"}))
            return await ending(ws, WAIT)

    outcome = run(flood())
    kinds = _flood_kinds(outcome.frames)
    assert outcome.code == CloseCode.POLICY_VIOLATION and outcome.reason, outcome.describe()
    assert kinds.count("rate_limited") == ch07_auth.MAX_STRIKES and kinds.count("message") <= ch07_auth.BURST + 5
    run(_still_served(targets, "course"))


def test_a_flood_on_the_rate_limit_solution_gets_error_frames_then_1008(targets: Targets) -> None:
    async def flood() -> Outcome:
        async with connect(targets.rate.ws_url + "/chat", ping_interval=None) as ws:
            for i in range(200):
                await ws.send(f"{BODY} {i}")
            return await ending(ws, WAIT)

    outcome = run(flood())
    kinds = _flood_kinds(outcome.frames)
    assert outcome.code == CloseCode.POLICY_VIOLATION and outcome.reason, outcome.describe()
    assert 1 <= kinds.count("rate_limited") and kinds.index("rate_limited") > 0
    run(_still_served(targets, "rate"))


def test_an_oversized_message_after_auth_is_closed_with_1009(targets: Targets) -> None:
    async def big() -> Outcome:
        ws = await _first_message_session(targets.course.ws_url + "/ws/secure", _token(targets))
        async with ws:
            await ws.send(json.dumps({"room": "general", "text": BODY * 1000}))
            return await ending(ws, WAIT)

    _expect(run(big()), code=CloseCode.MESSAGE_TOO_BIG)
    run(_still_served(targets, "course"))


# -- 5. the end: bystanders, and the logs ------------------------------------------------------------

def test_zz_the_bystanders_that_connected_first_are_still_served(targets: Targets) -> None:
    for name, ws in targets.bystanders.items():
        if name == "rate":
            ws.send("hello again")
            assert json.loads(ws.recv(timeout=WAIT)) == {"type": "echo", "text": "hello again"}
        elif name == "first_message":
            ws.send("hello again")
            assert json.loads(ws.recv(timeout=WAIT))["text"] == "hello again"
        else:
            ws.send(json.dumps({"room": "general", "text": "hello again"}))
            for _ in range(2000):  # skip what the room said meanwhile (bob is in general)
                reply = json.loads(ws.recv(timeout=WAIT))
                if reply.get("text") == "hello again":
                    break
            assert reply == {"type": "message", "room": "general", "from": "bob", "text": "hello again"}, (name, reply)


def test_zz_the_logs_hold_no_token_and_no_message_body(targets: Targets) -> None:
    # One more handshake with a good token in the query string, its log line caught right here:
    # the scan below must see at least one handshake line, whatever ran in this process before.
    token = issue_token("alice")
    targets.tokens.add(token)
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)
    with capture_logs("uvicorn.error", logging.DEBUG) as here:
        run(attempt(targets.course.ws_url + "/ws/query?token=" + token, wait=WAIT))
    records = {id(record): record for record in [*targets.logs.records, *here.records]}  # each record once
    lines = [record.getMessage() for record in records.values()]
    assert any("WebSocket /ws/query?token=[redacted]" in line for line in lines), "the handshake lines were captured"
    secrets = {t for t in targets.tokens if t} | {t.split(".")[-1] for t in targets.tokens if t.count(".") == 2 and t.split(".")[-1]}
    leaks = [line for line in lines if BODY in line or any(s in line for s in secrets)]
    assert not leaks, leaks[:3]
