"""Chapter 04 routes, spoken to with a real WebSocket client over a real socket.

Every classic route answers as design.md section 5 says; bad input on every
route (binary frames, frames over the size cap, malformed JSON, wrong types)
gets a named close code with a reason, or an error frame; and the server keeps
serving everyone else, without a single crash in its log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from course_app.chapters.ch04_echo import MAX_MESSAGE_BYTES
from course_app.realtime.codes import CloseCode
from course_app.logcapture import capture_logs
from course_app.server import BackgroundServer

R = TypeVar("R")

CLASSIC = [
    ("/ws", "You said: {}"),
    ("/ws/7", "Message received: {}"),
    ("/ws/123456", "Message received: {}"),
    ("/ws/echo", "Server Echo: {}"),
    ("/chat", "You said: {}"),
]
TEXT_ROUTES = ["/ws", "/ws/7", "/ws/echo", "/chat", "/ws/json"]
ALL_ROUTES = [*TEXT_ROUTES, "/ws/frames"]


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(asyncio.wait_for(coro, 20))


@pytest.fixture(autouse=True)
def no_crashes(server: BackgroundServer) -> Iterator[None]:
    """After every test: uvicorn logged no error (no handler crashed)."""
    with capture_logs("uvicorn.error", logging.ERROR) as handler:
        yield
    assert not handler.records, [r.getMessage() for r in handler.records]


# -- the classic routes -------------------------------------------------------------

@pytest.mark.parametrize(("path", "reply"), CLASSIC)
def test_classic_route_answers_as_the_tutorials_do(server: BackgroundServer, path: str, reply: str) -> None:
    async def talk() -> list[str | bytes]:
        async with connect(server.ws_url + path) as ws:
            got = []
            for text in ["hello", "héllo ✓", ""]:
                await ws.send(text)
                got.append(await ws.recv())
            return got

    assert run(talk()) == [reply.format("hello"), reply.format("héllo ✓"), reply.format("")]


def test_a_client_id_that_is_not_a_number_is_refused_at_the_handshake(server: BackgroundServer) -> None:
    async def attempt() -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws_url + "/ws/abc"):
                pass
        return refused.value.response.status_code

    assert run(attempt()) == 403  # no route matches: the id converter keeps /ws/<word> free for later chapters


def test_frames_come_back_in_their_own_type(server: BackgroundServer) -> None:
    async def talk() -> list[str | bytes]:
        async with connect(server.ws_url + "/ws/frames") as ws:
            got = []
            for frame in ["text", b"\x00\x01\xff", json.dumps({"a": 1})]:
                await ws.send(frame)
                got.append(await ws.recv())
            return got

    assert run(talk()) == ["text", b"\x00\x01\xff", '{"a": 1}']


def test_json_route_names_the_json_type_and_answers_bad_json_with_an_error_frame(server: BackgroundServer) -> None:
    async def talk() -> list[Any]:
        async with connect(server.ws_url + "/ws/json") as ws:
            got = []
            for text in ['{"a": 1}', "[1, 2]", "3.5", '"s"', "null", "{oops", "NaN", '{"still": "open"}']:
                await ws.send(text)
                got.append(json.loads(await ws.recv()))
            return got

    got = run(talk())
    assert got[:5] == [
        {"echo": {"a": 1}, "json_type": "object"},
        {"echo": [1, 2], "json_type": "array"},
        {"echo": 3.5, "json_type": "number"},
        {"echo": "s", "json_type": "string"},
        {"echo": None, "json_type": "null"},
    ]
    assert got[5]["error"] == "bad_json" and "column" in got[5]["detail"]
    assert got[6] == {"error": "bad_json", "detail": "NaN is not valid JSON"}
    assert got[7] == {"echo": {"still": "open"}, "json_type": "object"}


# -- bad input ----------------------------------------------------------------------

async def _close_after(url: str, frame: str | bytes) -> tuple[int | None, str]:
    async with connect(url, max_size=None) as ws:
        await ws.send(frame)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.close_code, ws.close_reason or ""


@pytest.mark.parametrize("path", TEXT_ROUTES)
def test_binary_frame_on_a_text_route_closes_with_1003_and_a_reason(server: BackgroundServer, path: str) -> None:
    code, reason = run(_close_after(server.ws_url + path, b"\x01\x02"))
    assert code == CloseCode.UNSUPPORTED_DATA
    assert "text" in reason and "binary" in reason


@pytest.mark.parametrize("path", ALL_ROUTES)
def test_a_frame_over_the_cap_closes_with_1009_and_a_reason(server: BackgroundServer, path: str) -> None:
    code, reason = run(_close_after(server.ws_url + path, "x" * (MAX_MESSAGE_BYTES + 1)))
    assert code == CloseCode.MESSAGE_TOO_BIG
    assert str(MAX_MESSAGE_BYTES) in reason


def test_the_cap_counts_bytes_not_characters(server: BackgroundServer) -> None:
    # 'é' is two bytes in UTF-8: half the cap in characters is exactly the cap in bytes.
    async def talk() -> tuple[str | bytes, tuple[int | None, str]]:
        async with connect(server.ws_url + "/ws/frames", max_size=None) as ws:
            await ws.send("é" * (MAX_MESSAGE_BYTES // 2))
            at_cap = await ws.recv()
        return at_cap, await _close_after(server.ws_url + "/ws/frames", "é" * (MAX_MESSAGE_BYTES // 2 + 1))

    at_cap, (code, _) = run(talk())
    assert at_cap == "é" * (MAX_MESSAGE_BYTES // 2)
    assert code == CloseCode.MESSAGE_TOO_BIG


def test_bad_input_from_one_client_does_not_disturb_the_others(server: BackgroundServer) -> None:
    async def talk() -> list[str | bytes]:
        async with connect(server.ws_url + "/ws/echo") as bystander:
            for path in TEXT_ROUTES:
                await _close_after(server.ws_url + path, b"binary")
                await _close_after(server.ws_url + path, "y" * (MAX_MESSAGE_BYTES + 10))
            await bystander.send("still here?")
            first = await bystander.recv()
            async with connect(server.ws_url + "/ws") as newcomer:
                await newcomer.send("and me")
                return [first, await newcomer.recv()]

    assert run(talk()) == ["Server Echo: still here?", "You said: and me"]


def test_many_clients_at_once_each_get_their_own_replies(server: BackgroundServer) -> None:
    async def one(i: int) -> list[str | bytes]:
        async with connect(server.ws_url + f"/ws/{i}") as ws:
            got = []
            for n in range(3):
                await ws.send(f"{i}-{n}")
                got.append(await ws.recv())
            return got

    async def many() -> list[list[str | bytes]]:
        return await asyncio.gather(*(one(i) for i in range(20)))

    assert run(many()) == [[f"Message received: {i}-{n}" for n in range(3)] for i in range(20)]


# -- the pages ----------------------------------------------------------------------

@pytest.mark.parametrize("page", ["echo.html", "chat.html", "ws-client.js", "log.js", "course.css"])
def test_pages_are_served_and_need_no_network(server: BackgroundServer, page: str) -> None:
    response = httpx.get(f"{server.url}/static/{page}")
    assert response.status_code == 200
    assert "https://" not in response.text and "http://" not in response.text  # no CDN: works offline


# -- input that used to crash a handler ----------------------------------------------

def test_a_lone_surrogate_is_echoed_as_an_ascii_escape(server: BackgroundServer) -> None:
    """Starlette's send_json would raise UnicodeEncodeError on it; the reply escapes it instead."""
    async def talk() -> list[str | bytes]:
        async with connect(server.ws_url + "/ws/json") as ws:
            got = []
            for text in ['{"a": "\\ud800"}', '{"é": "✓"}']:
                await ws.send(text)
                got.append(await ws.recv())
            return got

    surrogate, accented = run(talk())
    assert isinstance(surrogate, str) and "\\ud800" in surrogate
    assert json.loads(surrogate) == {"echo": {"a": "\ud800"}, "json_type": "object"}
    assert accented == '{"echo":{"é":"✓"},"json_type":"object"}', "readable UTF-8 when it can be encoded"


@pytest.mark.parametrize(
    ("text", "detail"),
    [("[" * 5000 + "]" * 5000, "nested too deeply"), ("9" * 4301, "4300 digits"), ('{"a": Infinity}', "Infinity")],
)
def test_json_the_parser_cannot_take_gets_an_error_frame(server: BackgroundServer, text: str, detail: str) -> None:
    async def talk() -> Any:
        async with connect(server.ws_url + "/ws/json") as ws:
            await ws.send(text)
            reply = json.loads(await ws.recv())
            await ws.send("[]")  # still served
            return reply, json.loads(await ws.recv())

    reply, after = run(talk())
    assert reply["error"] == "bad_json" and detail in reply["detail"]
    assert after == {"echo": [], "json_type": "array"}


def test_a_client_id_of_4301_digits_is_no_route_not_a_500(server: BackgroundServer) -> None:
    async def attempt(path: str) -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws_url + path):
                pass
        return refused.value.response.status_code

    assert run(attempt("/ws/" + "1" * 4301)) == 403  # Starlette's int converter raised ValueError here: 500
    assert run(attempt("/ws/" + "1" * 19)) == 403  # the id converter takes 1 to 18 digits


def test_ws_max_size_refuses_a_frame_from_its_header() -> None:
    """With ws_max_size, a frame that claims 1 GiB is refused at once: nothing of it is buffered."""
    import socket
    import struct

    from course_app.app import create_app
    from course_app.limits import WS_MAX_SIZE

    with BackgroundServer(create_app(), ws_max_size=WS_MAX_SIZE) as small:
        sock = socket.create_connection(("127.0.0.1", small.port), timeout=5)
        with sock:
            sock.sendall(
                b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(4096)
            assert head.startswith(b"HTTP/1.1 101")
            sock.sendall(b"\x81\xff" + struct.pack("!Q", 2**30) + b"\x00\x00\x00\x00")  # a header, no payload
            reply = sock.recv(4096)
    assert reply[0] == 0x88, reply[:10]  # a close frame
    code = struct.unpack("!H", reply[2:4])[0]
    assert code == CloseCode.MESSAGE_TOO_BIG and str(WS_MAX_SIZE) in reply[4:].decode()
