"""Chapter 06 routes on a real server: /heartbeat, /ticker, bad input, protocol pings, graceful shutdown."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import os
import socket
import struct
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.app import create_app
from course_app.chapters.ch06_lifecycle import MAX_MESSAGE_BYTES
from course_app.realtime.codes import CloseCode
from course_app.faults import async_wait_until
from course_app.logcapture import capture_logs
from course_app.server import BackgroundServer


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body in a fresh event loop, with an overall deadline."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 30))

    return wrapper


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    """The shared app on a real socket; the test fails if the server logged an error (a crashed handler)."""
    with capture_logs("uvicorn.error", logging.ERROR) as errors:
        with BackgroundServer(create_app()) as running:
            yield running
    assert not errors.records, [r.getMessage() for r in errors.records]


async def _until_closed(ws: websockets.ClientConnection, seconds: float = 3.0) -> list[object]:
    """Read everything until the server closes; the list of JSON messages seen on the way."""
    seen: list[object] = []
    async with asyncio.timeout(seconds):
        try:
            async for raw in ws:
                seen.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
    return seen


def _live(server: BackgroundServer) -> int:
    return int(httpx.get(server.url + "/ticker/live").json()["streams"])


# -- /heartbeat --------------------------------------------------------------------
@sync
async def test_heartbeat_pings_and_a_pong_keeps_the_client(server: BackgroundServer) -> None:
    async with websockets.connect(server.ws_url + "/heartbeat?interval=0.1&misses=2", ping_interval=None) as ws:
        seqs = []
        for _ in range(6):  # six intervals: three times what `misses` tolerates
            message = json.loads(await asyncio.wait_for(ws.recv(), 2))
            assert message["type"] == "ping"
            seqs.append(message["seq"])
            await ws.send(json.dumps({"type": "pong", "seq": message["seq"]}))
        assert seqs == [1, 2, 3, 4, 5, 6]
        assert ws.close_code is None


@sync
async def test_heartbeat_closes_a_silent_client_with_its_named_code(server: BackgroundServer) -> None:
    async with websockets.connect(server.ws_url + "/heartbeat?interval=0.1&misses=3", ping_interval=None) as ws:
        seen = await _until_closed(ws)
    assert [m["type"] for m in seen if isinstance(m, dict)] == ["ping"] * 3
    assert ws.close_code == CloseCode.HEARTBEAT_TIMEOUT
    assert "3 pings" in (ws.close_reason or "")


@sync
async def test_heartbeat_answers_a_client_ping(server: BackgroundServer) -> None:
    async with websockets.connect(server.ws_url + "/heartbeat?interval=30", ping_interval=None) as ws:
        assert json.loads(await ws.recv())["type"] == "ping"
        await ws.send(json.dumps({"type": "ping", "seq": 41}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 2)) == {"type": "pong", "seq": 41}


# -- /ticker -----------------------------------------------------------------------
@sync
async def test_ticker_streams_in_order_then_closes_normally(server: BackgroundServer) -> None:
    async with websockets.connect(server.ws_url + "/ticker?interval=0.01&count=5") as ws:
        seen = await _until_closed(ws)
    assert seen == [{"type": "tick", "seq": n} for n in range(1, 6)]
    assert ws.close_code == CloseCode.NORMAL and ws.close_reason == "stream complete"


@sync
async def test_ticker_stops_on_request(server: BackgroundServer) -> None:
    async with websockets.connect(server.ws_url + "/ticker?interval=0.01") as ws:
        assert json.loads(await ws.recv())["type"] == "tick"
        await ws.send(json.dumps({"type": "stop"}))
        await _until_closed(ws)
    assert ws.close_code == CloseCode.NORMAL and ws.close_reason == "stopped by the client"


@pytest.mark.parametrize("leave", ["close", "abort"])
@sync
async def test_ticker_handler_ends_as_soon_as_the_client_leaves(server: BackgroundServer, leave: str) -> None:
    # A 30 s interval: a send-only handler would linger that long. The listener notices at once.
    ws = await websockets.connect(server.ws_url + "/ticker?interval=30")
    await asyncio.sleep(0.2)
    assert await asyncio.to_thread(_live, server) == 1
    if leave == "close":
        await ws.close()
    else:
        ws.transport.abort()

    async def gone() -> bool:
        return await asyncio.to_thread(_live, server) == 0

    await async_wait_until(gone, 5, "the ticker handler to end")


# -- bad input: a clear answer, and other clients are unaffected ------------------------
@pytest.mark.parametrize("path", ["/heartbeat?interval=30", "/ticker?interval=30"])
@pytest.mark.parametrize(
    ("payload", "reason"),
    [("{not json", "malformed JSON"), ("[1, 2]", "expected a JSON object"), ('{"type": "dance"}', "unknown message type")],
)
@sync
async def test_bad_text_gets_an_error_frame_and_the_connection_stays(
    server: BackgroundServer, path: str, payload: str, reason: str
) -> None:
    async with websockets.connect(server.ws_url + path, ping_interval=None) as ws:
        if path.startswith("/heartbeat"):
            await ws.recv()  # the first ping
        await ws.send(payload)
        error = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert error["type"] == "error" and reason in error["reason"]
        await ws.send(json.dumps({"type": "ping", "seq": 1}))  # still served
        assert json.loads(await asyncio.wait_for(ws.recv(), 2)) == {"type": "pong", "seq": 1}


@pytest.mark.parametrize("path", ["/heartbeat?interval=30", "/ticker?interval=30"])
@pytest.mark.parametrize(
    ("payload", "code", "reason"),
    [
        (b"\x00\x01", CloseCode.UNSUPPORTED_DATA, "binary frames are not accepted here"),
        ("x" * (MAX_MESSAGE_BYTES + 1), CloseCode.MESSAGE_TOO_BIG, f"limited to {MAX_MESSAGE_BYTES} bytes"),
    ],
)
@sync
async def test_binary_and_oversized_frames_close_with_a_reason_and_others_keep_going(
    server: BackgroundServer, path: str, payload: str | bytes, code: CloseCode, reason: str
) -> None:
    async with websockets.connect(server.ws_url + "/ticker?interval=0.05", ping_interval=None) as bystander:
        async with websockets.connect(server.ws_url + path, ping_interval=None) as ws:
            await ws.send(payload)
            await _until_closed(ws)
        assert ws.close_code == code and reason in (ws.close_reason or "")
        ticks = [json.loads(await asyncio.wait_for(bystander.recv(), 2)) for _ in range(3)]
        assert [t["type"] for t in ticks] == ["tick"] * 3


@pytest.mark.parametrize(
    ("query", "reason"),
    [("/heartbeat?interval=-1", "interval must be a number"), ("/heartbeat?misses=lots", "misses must be a whole number"),
     ("/ticker?count=1.5", "count must be a whole number"), ("/ticker?interval=abc", "interval must be a number")],
)
@sync
async def test_bad_query_closes_with_policy_violation_and_a_reason(server: BackgroundServer, query: str, reason: str) -> None:
    async with websockets.connect(server.ws_url + query) as ws:
        await _until_closed(ws)
    assert ws.close_code == CloseCode.POLICY_VIOLATION
    assert reason in (ws.close_reason or "")


# -- protocol-level ping and graceful shutdown ----------------------------------------
def _silent_raw_client(port: int, path: str, rcvbuf: int | None = None) -> socket.socket:
    """Complete the WebSocket handshake by hand, then never read again: pings go unanswered."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect, or it barely counts
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1024)
    assert head.startswith(b"HTTP/1.1 101"), head[:60]
    return sock


@sync
async def test_protocol_ping_drops_a_client_that_stops_answering() -> None:
    app = create_app()
    async with BackgroundServer(app, ws_ping_interval=0.2, ws_ping_timeout=0.2) as server:
        sock = await asyncio.to_thread(_silent_raw_client, server.port, "/ticker?interval=30")
        try:
            assert await asyncio.to_thread(_live, server) == 1
            await asyncio.sleep(1.5)  # interval + timeout is 0.4 s
            assert await asyncio.to_thread(_live, server) == 0
        finally:
            sock.close()


@sync
async def test_without_protocol_ping_the_silent_client_is_kept() -> None:
    async with BackgroundServer(create_app(), ws_ping_interval=None) as server:
        sock = await asyncio.to_thread(_silent_raw_client, server.port, "/ticker?interval=30")
        try:
            await asyncio.sleep(1.0)
            assert await asyncio.to_thread(_live, server) == 1
        finally:
            sock.close()


@sync
async def test_graceful_shutdown_sends_1012_and_a_watched_stream_ends_at_once() -> None:
    server = await BackgroundServer(create_app(), graceful_timeout=5.0).__aenter__()
    ws = await websockets.connect(server.ws_url + "/ticker?interval=30")
    started = time.perf_counter()
    await server.__aexit__(None, None, None)
    took = time.perf_counter() - started
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 2)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.SERVICE_RESTART
    assert took < 2.5, f"stop took {took:.1f} s; the ticker should end at once, far below the 5 s graceful timeout"


@sync
async def test_graceful_timeout_cancels_a_handler_that_never_ends() -> None:
    app = FastAPI()
    outcome: list[str] = []

    @app.websocket("/stubborn")
    async def stubborn(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await asyncio.sleep(3600)  # never reads, never sends: shutdown cannot reach it
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    server = await BackgroundServer(app, graceful_timeout=0.5).__aenter__()
    ws = await websockets.connect(server.ws_url + "/stubborn")
    started = time.perf_counter()
    await server.__aexit__(None, None, None)
    took = time.perf_counter() - started
    await ws.close()
    assert outcome == ["cancelled"]
    assert 0.4 < took < 2.5, took


@sync
async def test_send_only_handler_notices_the_disconnect_only_on_its_next_send() -> None:
    """The bug the chapter fixes, pinned down: a handler that never reads learns late."""
    app = FastAPI()
    ended: list[float] = []

    @app.websocket("/send-only")
    async def send_only(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text("tick")
                await asyncio.sleep(1.0)
        except WebSocketDisconnect:
            ended.append(time.perf_counter())

    async with BackgroundServer(app) as server:
        async with websockets.connect(server.ws_url + "/send-only") as ws:
            await ws.recv()
        left = time.perf_counter()
        await asyncio.sleep(0.4)
        assert ended == [], "still running 0.4 s after the client left: it has not tried to send yet"
        await asyncio.sleep(1.2)
        assert len(ended) == 1 and ended[0] - left > 0.4


# -- what used to crash the handlers -----------------------------------------------------
@pytest.mark.parametrize("path", ["/heartbeat?interval=30", "/ticker?interval=30"])
@sync
async def test_a_lone_surrogate_is_answered_not_a_crash(server: BackgroundServer, path: str) -> None:
    async with websockets.connect(server.ws_url + path, ping_interval=None) as ws:
        if path.startswith("/heartbeat"):
            await ws.recv()  # the first ping
        await ws.send('{"type": "ping", "seq": "\\ud800"}')
        raw = await asyncio.wait_for(ws.recv(), 2)
        assert isinstance(raw, str) and "\\ud800" in raw  # escaped: UTF-8 cannot carry it
        assert json.loads(raw) == {"type": "pong", "seq": "\ud800"}
        await ws.send('{"type": "\\udfff"}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 2))["type"] == "error"


@pytest.mark.parametrize("path", ["/heartbeat?interval=30", "/ticker?interval=30"])
@sync
async def test_json_nested_too_deeply_gets_an_error_frame(server: BackgroundServer, path: str) -> None:
    async with websockets.connect(server.ws_url + path, ping_interval=None) as ws:
        if path.startswith("/heartbeat"):
            await ws.recv()
        await ws.send("[" * 2000 + "]" * 2000)
        error = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert error["type"] == "error" and "nested too deeply" in error["reason"]


@sync
async def test_a_fast_ticker_to_a_client_that_stops_answering_pings_ends_quietly() -> None:
    """The notebook's /ticker?interval=0.01 cell, sped up: uvicorn's keepalive gives up on the client
    while the producer is sending. That send used to raise out of first_completed and uvicorn
    logged 'Exception in ASGI application'; now it is the normal end it is."""
    async with BackgroundServer(create_app(), ws_ping_interval=0.1, ws_ping_timeout=0.1) as fast:
        with capture_logs("uvicorn.error", logging.ERROR) as errors:
            # interval=0.001 makes the race all but certain: 25 crashes in 30 streams before the fix
            socks = [await asyncio.to_thread(_silent_raw_client, fast.port, "/ticker?interval=0.001", 4096)
                     for _ in range(10)]
            try:
                deadline = time.monotonic() + 5
                while await asyncio.to_thread(_live, fast) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert await asyncio.to_thread(_live, fast) == 0, "every stream ended at the keepalive timeout"
            finally:
                for sock in socks:
                    sock.close()
        assert errors.crashes() == []


@sync
async def test_a_stalled_reader_that_is_then_reset_ends_its_stream_quietly(server: BackgroundServer) -> None:
    """Clients stop reading while they flood pings, so every send of the handler blocks; then each
    connection is reset. Both of the handler's jobs wake to a dead socket at once: that used to
    crash 10 handlers out of 10 with WebSocketDisconnect."""
    socks = await asyncio.gather(*(asyncio.to_thread(_stalled_client, server.port) for _ in range(5)))
    try:
        assert await asyncio.to_thread(_live, server) == 5
    finally:
        for sock in socks:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # an RST, not a FIN
    deadline = time.monotonic() + 5
    while await asyncio.to_thread(_live, server) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await asyncio.to_thread(_live, server) == 0


def _stalled_client(port: int) -> socket.socket:
    """A /ticker client that sends pings (each answered with a pong) and never reads."""
    sock = _silent_raw_client(port, "/ticker?interval=0.001", rcvbuf=4096)
    sock.settimeout(0.3)
    ping = _masked_text(json.dumps({"type": "ping", "seq": 1, "pad": "x" * 900}).encode())
    try:
        for _ in range(3000):  # about 2.7 MB of pongs to write back
            sock.sendall(ping)
    except TimeoutError:
        pass  # the server stopped reading: its sends are blocked, as wanted
    return sock


def _masked_text(payload: bytes) -> bytes:
    key = os.urandom(4)
    size = len(payload)
    head = bytes([0x81]) + (bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack("!H", size))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
