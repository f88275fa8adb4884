"""Chapter 05 routes over real sockets: /chat-room, /live-score with POST /update-score, /rooms/{room}.

Every route answers as design.md section 5 says; bad input gets a named close
code or an error frame with a reason, and the server keeps serving the others;
TCP resets leave no zombie behind; one stalled subscriber cannot block
POST /update-score for everyone else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.chapters.ch05_broadcast import MAX_FRAME
from course_app.realtime.codes import CloseCode
from course_app.realtime.broadcast import Broadcast
from course_app.realtime.tasks import first_completed
from course_app.realtime.writer import send_events
from course_app.faults import reset_connection
from course_app.logcapture import capture_logs
from course_app.server import BackgroundServer

R = TypeVar("R")


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(asyncio.wait_for(coro, 30))


def reset(ws: ClientConnection) -> None:
    """Vanish with a TCP RST (SO_LINGER 0): no close frame, as when a phone loses its network."""
    reset_connection(ws)


async def recv(ws: ClientConnection, seconds: float = 2.0) -> str:
    return str(await asyncio.wait_for(ws.recv(), seconds))


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    n = 0
    with pytest.raises(ConnectionClosed):
        while True:
            try:
                await asyncio.wait_for(ws.recv(), 3)
            except TimeoutError:
                raise AssertionError(f"no close frame after {n} messages") from None
            n += 1
    return ws.close_code, ws.close_reason


async def rooms_when_settled(url: str, want: int = 0, seconds: float = 3.0) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            body: dict[str, Any] = (await client.get("/rooms")).json()
            if body["total"] == want or asyncio.get_running_loop().time() > deadline:
                return body
            await asyncio.sleep(0.05)


@pytest.fixture(autouse=True)
def no_crashes_and_no_zombies(server: BackgroundServer) -> Iterator[None]:
    """After every test: no handler crashed, and every socket left its room."""
    with capture_logs("uvicorn.error", logging.ERROR) as handler:
        yield
    assert not handler.records, [r.getMessage() for r in handler.records]
    assert run(rooms_when_settled(server.url)) == {"total": 0, "rooms": {}}


# -- /chat-room ---------------------------------------------------------------------

def test_chat_room_sends_each_line_to_everyone_sender_included(server: BackgroundServer) -> None:
    async def go() -> list[list[str]]:
        url = server.ws_url + "/chat-room"
        async with connect(url) as a, connect(url) as b, connect(url) as c:
            await a.send("hello from a")
            await b.send("hi from b")
            return [[await recv(ws), await recv(ws)] for ws in (a, b, c)]

    for got in run(go()):
        assert got == ["hello from a", "hi from b"]


@pytest.mark.parametrize("path", ["/chat-room", "/live-score", "/rooms/lobby"])
def test_binary_frame_closes_with_unsupported_data_and_a_reason(server: BackgroundServer, path: str) -> None:
    async def go() -> tuple[int | None, str | None]:
        async with connect(server.ws_url + path) as ws:
            await ws.send(b"\x00\x01")
            return await closed_with(ws)

    code, reason = run(go())
    assert code == CloseCode.UNSUPPORTED_DATA
    assert reason and "text" in reason


@pytest.mark.parametrize("path", ["/chat-room", "/live-score", "/rooms/lobby"])
def test_frame_over_the_cap_closes_with_message_too_big(server: BackgroundServer, path: str) -> None:
    async def go() -> tuple[int | None, str | None]:
        async with connect(server.ws_url + path) as ws:
            await ws.send("é" * (MAX_FRAME // 2 + 1))  # over the cap in bytes, under it in characters
            return await closed_with(ws)

    code, reason = run(go())
    assert code == CloseCode.MESSAGE_TOO_BIG
    assert reason and str(MAX_FRAME) in reason


def test_bad_input_from_one_client_does_not_disturb_the_others(server: BackgroundServer) -> None:
    async def go() -> tuple[str, int | None]:
        url = server.ws_url + "/chat-room"
        async with connect(url) as good, connect(url) as bad:
            await bad.send(b"binary")
            code, _ = await closed_with(bad)
            await good.send("still talking")
            return await recv(good), code

    assert run(go()) == ("still talking", CloseCode.UNSUPPORTED_DATA)


# -- /live-score and POST /update-score ----------------------------------------------

def test_update_score_reaches_every_subscriber(server: BackgroundServer) -> None:
    async def go() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        url = server.ws_url + "/live-score"
        async with connect(url) as a, connect(url) as b, httpx.AsyncClient(base_url=server.url) as client:
            await rooms_when_settled(server.url, want=2)
            reply = (await client.post("/update-score", params={"team": "Lions", "score": 3})).json()
            return reply, [json.loads(await recv(ws)) for ws in (a, b)]

    reply, got = run(go())
    assert got == [{"team": "Lions", "score": 3}] * 2
    assert reply == {"team": "Lions", "score": 3, "delivered": 2}


@pytest.mark.parametrize(("params", "needle"), [
    ({"team": "Lions", "score": "three"}, "valid integer"),
    ({"team": "Lions", "score": -1}, "greater than or equal to 0"),
    ({"team": "Lions"}, "Field required"),
    ({"team": "", "score": 1}, "at least 1 character"),
])
def test_update_score_with_bad_input_is_a_422_with_a_message(
    server: BackgroundServer, params: dict[str, Any], needle: str,
) -> None:
    response = httpx.post(server.url + "/update-score", params=params)
    assert response.status_code == 422
    assert needle in response.text


def test_live_score_is_listen_only_and_says_so(server: BackgroundServer) -> None:
    async def go() -> dict[str, Any]:
        async with connect(server.ws_url + "/live-score") as ws:
            await ws.send('{"team": "me", "score": 99}')
            return dict(json.loads(await recv(ws)))

    assert "update-score" in run(go())["error"]


def test_live_score_notices_resets_and_a_dead_subscriber_does_not_break_the_broadcast(server: BackgroundServer) -> None:
    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        url = server.ws_url + "/live-score"
        dead = [await connect(url) for _ in range(20)]
        async with connect(url) as alive, httpx.AsyncClient(base_url=server.url) as client:
            for ws in dead:
                reset(ws)
            settled = await rooms_when_settled(server.url, want=1)
            reply = (await client.post("/update-score", params={"team": "Owls", "score": 7})).json()
            return settled, reply, json.loads(await recv(alive))

    settled, reply, got = run(go())
    assert settled == {"total": 1, "rooms": {"live-score": 1}}  # the handler noticed all 20 resets
    assert reply["delivered"] == 1
    assert got == {"team": "Owls", "score": 7}


def test_a_stalled_member_is_closed_with_too_slow_and_never_holds_up_the_others() -> None:
    """One Broadcast and one writer per member, as ch05 uses them; big frames so a stalled reader's buffers fill fast."""
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Broadcast("memory://", queue_size=8) as app.state.broadcast:
            yield

    app = FastAPI(lifespan=lifespan)

    @app.websocket("/feed")
    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        async with websocket.app.state.broadcast.subscribe("feed") as subscriber:
            async def read() -> None:
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
            await first_completed(send_events(websocket, subscriber, send_timeout=0.3, close_timeout=0.3), read())

    @app.post("/big")
    async def big() -> dict[str, int | None]:
        return {"delivered": await app.state.broadcast.publish("feed", "x" * 65536)}

    async def go(server: BackgroundServer) -> tuple[int, int, int | None, str | None]:
        url = server.ws_url + "/feed"
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        stalled = await connect(url, sock=sock, max_queue=1, compression=None)
        async with connect(url, compression=None, max_size=None) as healthy, \
                httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            received = 0
            for _ in range(200):  # 200 x 64 KiB: far more than a stalled reader's buffers hold
                reply = (await client.post("/big")).json()
                await recv(healthy)
                received += 1
                if reply["delivered"] == 1:  # the stalled member is gone
                    break
            code, reason = await closed_with(stalled)
            return received, reply["delivered"], code, reason

    with BackgroundServer(app) as server:
        received, delivered, code, reason = run(go(server))
    assert code == CloseCode.TOO_SLOW and reason and "too slow" in reason
    assert delivered == 1 and 2 < received < 200  # the healthy one got every frame, before and after


def test_chat_room_survives_300_resets_while_people_talk(server: BackgroundServer) -> None:
    async def go() -> tuple[dict[str, Any], str]:
        url = server.ws_url + "/chat-room"
        async with connect(url) as speaker:
            for batch in range(6):
                crowd = await asyncio.gather(*(connect(url) for _ in range(50)))
                await speaker.send(f"batch {batch}")
                for ws in crowd:
                    reset(ws)
            settled = await rooms_when_settled(server.url, want=1)
            while True:  # the speaker still hears itself
                await speaker.send("last")
                if await recv(speaker) == "last":
                    return settled, "last"

    settled, last = run(go())
    assert settled == {"total": 1, "rooms": {"chat-room": 1}}
    assert last == "last"


def test_a_member_leaves_its_room_when_the_body_raises() -> None:
    async def go() -> dict[str, int]:
        async with Broadcast() as broadcast:
            with pytest.raises(ZeroDivisionError):
                async with broadcast.subscribe("r"):
                    assert broadcast.channels() == {"r": 1}
                    1 / 0
            return broadcast.channels()

    assert run(go()) == {}
