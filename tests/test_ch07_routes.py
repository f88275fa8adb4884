"""Chapter 07 routes over real sockets: logins, the four ways to authenticate, and the session rules.

The attacks themselves (forged tokens, look-alike Origins, floods ...) are in
tests/security/; here each route is shown doing its job once, and each session
rule (expiry, per-message authorization, rate limit, connection cap, refresh)
once. Every test ends with no error in the server log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from course_app.chapters import ch07_auth
from course_app.logcapture import capture_logs
from course_app.realtime.codes import CloseCode
from course_app.security.tokens import issue_token
from course_app.server import BackgroundServer

R = TypeVar("R")


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(asyncio.wait_for(coro, 30))


@pytest.fixture(autouse=True)
def no_errors_logged(server: BackgroundServer) -> Iterator[None]:
    with capture_logs("uvicorn.error", logging.ERROR) as handler:
        yield
    assert not handler.records, [r.getMessage() for r in handler.records]


async def recv_json(ws: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def closed_with(ws: ClientConnection) -> tuple[int | None, str]:
    """Read until the server closes; its code and reason."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason or ""


async def secure(server: BackgroundServer, user: str = "alice", **token_options: Any) -> ClientConnection:
    ws = await connect(server.ws_url + "/ws/secure")
    await ws.send(json.dumps({"token": issue_token(user, **token_options)}))
    hello = await recv_json(ws)
    assert hello["status"] == "authenticated" and hello["user"] == user
    return ws


# -- HTTP logins -------------------------------------------------------------------

def test_token_endpoint_issues_a_bearer_token_for_the_right_password(server: BackgroundServer) -> None:
    reply = httpx.post(server.url + "/token", data={"username": "alice", "password": "wonderland"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["access_token"].count(".") == 2  # header.payload.signature


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong"), ("mallory", "wonderland"), ("bob", "Builder")])
def test_token_endpoint_refuses_wrong_credentials_with_401(server: BackgroundServer, username: str, password: str) -> None:
    reply = httpx.post(server.url + "/token", data={"username": username, "password": password})
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    assert reply.json() == {"detail": "Incorrect username or password"}  # the same for unknown users


def test_login_sets_an_httponly_cookie_and_logout_clears_it(server: BackgroundServer) -> None:
    reply = httpx.post(server.url + "/login", data={"username": "bob", "password": "builder"})
    assert reply.status_code == 200 and reply.json() == {"user": "bob"}
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(ch07_auth.COOKIE + "=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    cleared = httpx.post(server.url + "/logout").headers["set-cookie"]
    assert cleared.startswith(ch07_auth.COOKIE + '=""') and "Max-Age=0" in cleared


# -- the four ways in ------------------------------------------------------------------

def test_secure_route_authenticates_with_the_first_message(server: BackgroundServer) -> None:
    async def talk() -> dict[str, Any]:
        async with connect(server.ws_url + "/ws/secure") as ws:
            await ws.send(json.dumps({"token": issue_token("alice")}))
            hello: dict[str, Any] = await recv_json(ws)
            return hello

    hello = run(talk())
    assert hello["status"] == "authenticated" and hello["user"] == "alice"
    assert hello["rooms"] == ["general", "ops"] and 0 < hello["expires_in"] <= 900


def test_secure_route_closes_4002_when_the_deadline_passes(server: BackgroundServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ch07_auth, "AUTH_TIMEOUT", 0.3)

    async def wait() -> tuple[int | None, str]:
        async with connect(server.ws_url + "/ws/secure") as ws:
            return await closed_with(ws)

    code, reason = run(wait())
    assert code == CloseCode.AUTH_TIMEOUT and "0.3 s" in reason


def test_query_token_works_and_never_reaches_the_log(server: BackgroundServer) -> None:
    token = issue_token("alice")
    uvicorn_log = logging.getLogger("uvicorn.error")
    before = uvicorn_log.level
    uvicorn_log.setLevel(logging.INFO)  # the handshake lines, path and query string included
    try:
        with capture_logs("", logging.DEBUG) as logs:
            async def talk() -> Any:
                async with connect(server.ws_url + "/ws/query?token=" + token) as ws:
                    return await recv_json(ws)

            assert run(talk())["user"] == "alice"
    finally:
        uvicorn_log.setLevel(before)
    lines = logs.messages()
    assert any("/ws/query?token=[redacted]" in line for line in lines), lines
    assert not any(token in line or token.split(".")[2] in line for line in lines)


def test_query_route_refuses_a_bad_token_before_accept(server: BackgroundServer) -> None:
    async def attempt() -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws_url + "/ws/query?token=nope"):
                pass
        return refused.value.response.status_code

    assert run(attempt()) == 403


def test_cookie_route_needs_the_cookie_and_an_allowed_origin(server: BackgroundServer) -> None:
    cookie = {"Cookie": f"{ch07_auth.COOKIE}={issue_token('bob')}"}

    async def talk() -> list[Any]:
        results: list[Any] = []
        async with connect(server.ws_url + "/ws/cookie", origin=server.url, additional_headers=cookie) as ws:  # type: ignore[arg-type]
            results.append((await recv_json(ws))["user"])
        for origin, headers in [("http://evil.test", cookie), (server.url, {})]:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(server.ws_url + "/ws/cookie", origin=origin, additional_headers=headers):  # type: ignore[arg-type]
                    pass
            results.append(refused.value.response.status_code)
        return results

    assert run(talk()) == ["bob", 403, 403]


def test_the_unchecked_cookie_route_lets_any_origin_in(server: BackgroundServer) -> None:
    cookie = {"Cookie": f"{ch07_auth.COOKIE}={issue_token('bob')}"}

    async def talk() -> Any:
        async with connect(server.ws_url + "/ws/cookie/no-origin-check", origin="http://evil.test",  # type: ignore[arg-type]
                           additional_headers=cookie) as ws:
            return await recv_json(ws)

    assert run(talk())["user"] == "bob"  # this is the bug chapter 07 demonstrates


def test_protocol_route_takes_the_token_from_the_subprotocol_and_never_echoes_it(server: BackgroundServer) -> None:
    token = issue_token("alice")

    async def talk() -> tuple[str | None, Any]:
        async with connect(server.ws_url + "/ws/protocol", subprotocols=["bearer", token]) as ws:  # type: ignore[list-item]
            return ws.subprotocol, await recv_json(ws)

    chosen, hello = run(talk())
    assert chosen == "bearer" and hello["user"] == "alice"


def test_a_browser_like_handshake_carries_no_authorization_header(server: BackgroundServer) -> None:
    async def talk() -> Any:
        async with connect(server.ws_url + "/ws/handshake", origin="http://page.test") as ws:  # type: ignore[arg-type]
            return await recv_json(ws)

    seen = run(talk())
    assert seen["authorization"] is False and seen["headers"]["origin"] == "http://page.test"


# -- session rules -------------------------------------------------------------------------

def test_room_messages_reach_members_only_and_outsiders_get_forbidden(server: BackgroundServer) -> None:
    async def talk() -> tuple[Any, Any, Any]:
        alice, bob = await secure(server, "alice"), await secure(server, "bob")
        try:
            await bob.send(json.dumps({"room": "ops", "text": "let me in"}))
            refused = await recv_json(bob)
            await alice.send(json.dumps({"room": "ops", "text": "ops only"}))
            got = await recv_json(alice)
            await alice.send(json.dumps({"room": "general", "text": "all"}))
            bob_sees = await recv_json(bob)  # bob's first message: the general one, never the ops one
            return refused, got, bob_sees
        finally:
            await alice.close()
            await bob.close()

    refused, got, bob_sees = run(talk())
    assert refused["error"] == "forbidden"
    assert got == {"type": "message", "room": "ops", "from": "alice", "text": "ops only"}
    assert bob_sees["room"] == "general"


def test_a_token_that_expires_mid_session_closes_with_4005(server: BackgroundServer) -> None:
    async def talk() -> tuple[int | None, str]:
        ws = await secure(server, "bob", ttl=1.0)
        async with ws:
            return await closed_with(ws)

    code, reason = run(talk())
    assert code == CloseCode.TOKEN_EXPIRED and "expired" in reason


def test_a_refresh_with_a_newer_token_keeps_the_session(server: BackgroundServer) -> None:
    async def talk() -> list[Any]:
        ws = await secure(server, "bob", ttl=1.5)
        async with ws:
            await ws.send(json.dumps({"type": "refresh", "token": issue_token("alice")}))
            other = await recv_json(ws)
            await ws.send(json.dumps({"type": "refresh", "token": issue_token("bob", ttl=60)}))
            fresh = await recv_json(ws)
            await asyncio.sleep(2.0)  # past the first token's expiry
            await ws.send(json.dumps({"room": "general", "text": "still here"}))
            return [other["error"], fresh["type"], (await recv_json(ws))["text"]]

    assert run(talk()) == ["forbidden", "refreshed", "still here"]


def test_a_flood_gets_error_frames_then_1008(server: BackgroundServer) -> None:
    async def flood() -> tuple[list[str], int | None]:
        ws = await secure(server, "alice")
        async with ws:
            for i in range(ch07_auth.BURST + ch07_auth.MAX_STRIKES + 20):
                await ws.send(json.dumps({"room": "general", "text": str(i)}))
            kinds: list[str] = []
            try:
                while True:
                    kinds.append(json.loads(await asyncio.wait_for(ws.recv(), 5)).get("error", "message"))
            except ConnectionClosed:
                return kinds, ws.close_code

    kinds, code = run(flood())
    assert code == CloseCode.POLICY_VIOLATION
    assert kinds.count("message") >= ch07_auth.BURST and kinds.count("rate_limited") == ch07_auth.MAX_STRIKES
    assert kinds.index("rate_limited") > kinds.index("message")


def test_a_sixth_connection_of_one_user_is_told_to_try_again_later(server: BackgroundServer) -> None:
    async def crowd() -> tuple[int | None, str, Any]:
        sockets = [await secure(server, "bob") for _ in range(ch07_auth.MAX_CONNECTIONS_PER_USER)]
        try:
            async with connect(server.ws_url + "/ws/secure") as extra:
                await extra.send(json.dumps({"token": issue_token("bob")}))
                code, reason = await closed_with(extra)
            await sockets[0].close()
            await asyncio.sleep(0.2)
            again = await secure(server, "bob")  # a slot is free again
            await again.close()
            return code, reason, True
        finally:
            for ws in sockets:
                await ws.close()

    code, reason, recovered = run(crowd())
    assert code == CloseCode.TRY_AGAIN_LATER and "try again later" in reason and recovered


def test_an_oversized_or_binary_frame_after_auth_closes_with_its_code(server: BackgroundServer) -> None:
    async def send(frame: str | bytes) -> int | None:
        ws = await secure(server, "alice")
        async with ws:
            await ws.send(frame)
            return (await closed_with(ws))[0]

    assert run(send("x" * (ch07_auth.MAX_MESSAGE_BYTES + 1))) == CloseCode.MESSAGE_TOO_BIG
    assert run(send(b"\x00\x01")) == CloseCode.UNSUPPORTED_DATA
