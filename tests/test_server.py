"""The in-process server: real sockets, quick start, clear errors, clean stop, safe re-runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import websockets
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.cluster import Cluster
from course_app.logcapture import capture_logs
from course_app.server import BackgroundServer, ServerError, start_server, stop_server


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_serves_the_course_app_on_a_real_socket() -> None:
    with BackgroundServer() as server:
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        assert server.ws_url == server.url.replace("http", "ws")
        body = httpx.get(server.url + "/whoami").json()
        assert isinstance(body["pid"], int)
    assert not server.running
    assert _port_is_free(server.port)


def test_a_taken_port_is_a_clear_error_not_a_hang() -> None:
    with BackgroundServer() as first:
        started = time.monotonic()
        with pytest.raises(ServerError, match="taken.*port=0"):
            BackgroundServer(port=first.port).start()
        assert time.monotonic() - started < 2


def _redis_down_app() -> FastAPI:
    @asynccontextmanager
    async def broken(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("Redis at redis://127.0.0.1:6390/0 did not answer")
        yield

    return FastAPI(lifespan=broken)


@pytest.mark.parametrize("log_level", ["warning", "critical"])  # critical: notebooks hide a demo server's log
def test_a_crash_at_startup_says_why(log_level: str) -> None:
    with pytest.raises(ServerError) as failed:
        BackgroundServer(_redis_down_app(), log_level=log_level).start()
    message = str(failed.value)
    assert "start-up: RuntimeError: Redis at redis://127.0.0.1:6390/0 did not answer. " in message, message
    assert "lifespan" in message and "SystemExit" not in message


def test_a_raw_asgi_lifespan_crash_says_why_too() -> None:
    """An app that raises without sending lifespan.startup.failed: uvicorn logs the exception itself."""

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        raise ConnectionRefusedError("nothing listens on 127.0.0.1:5432")

    with pytest.raises(ServerError, match=r"start-up: ConnectionRefusedError: nothing listens on 127\.0\.0\.1:5432\."):
        BackgroundServer(app).start()


def test_start_server_again_stops_the_previous_one() -> None:
    first = start_server(name="test-rerun")
    second = start_server(name="test-rerun")
    try:
        assert not first.running and second.running
        assert httpx.get(second.url + "/whoami").status_code == 200
    finally:
        stop_server("test-rerun")
    assert not second.running


def test_stop_sends_1012_to_open_websockets() -> None:
    app = FastAPI()

    @app.websocket("/hold")
    async def hold(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            await ws.receive_text()

    async def scenario() -> int | None:
        server = BackgroundServer(app).start()
        async with websockets.connect(server.ws_url + "/hold") as ws:
            await asyncio.to_thread(server.stop)
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert asyncio.run(scenario()) == 1012


def test_async_with_form_and_no_threads_left_behind() -> None:
    before = {t.name for t in threading.enumerate()}

    async def scenario() -> int:
        async with BackgroundServer() as server:
            async with httpx.AsyncClient() as client:
                return (await client.get(server.url + "/whoami")).status_code

    assert asyncio.run(scenario()) == 200
    leftover = {t.name for t in threading.enumerate()} - before
    assert not [name for name in leftover if name.startswith("uvicorn-")]


def test_cleanup_happens_when_the_body_raises() -> None:
    with pytest.raises(ZeroDivisionError):
        with BackgroundServer() as server:
            port = server.port
            1 / 0
    assert not server.running and _port_is_free(port)


def test_log_handlers_attached_before_start_still_see_crashes() -> None:
    """uvicorn's default log config would strip them; checks and tests rely on seeing crashes."""
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        1 / 0

    with capture_logs("uvicorn.error", logging.ERROR) as logs:
        with BackgroundServer(app) as server:
            assert httpx.get(server.url + "/boom").status_code == 500
    assert logs.crashes() == ["ZeroDivisionError: division by zero"]


def test_one_free_port_for_the_whole_package() -> None:
    from course_app import _lifecycle, cluster, redis_server, server

    assert server.free_port is cluster.free_port is redis_server.free_port is _lifecycle.free_port
    assert not hasattr(redis_server, "_free_port")


# -- permessage-deflate: off by default (about 72 KiB per idle socket with it, 37 without) ---------
ECHO = '''
import contextlib
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.send_text(await websocket.receive_text())
'''


def _echo_app() -> FastAPI:
    app = FastAPI()

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.send_text(await websocket.receive_text())

    return app


def _extensions_agreed(ws_url: str) -> str | None:
    """Offer permessage-deflate (as browsers do); return the server's Sec-WebSocket-Extensions answer."""

    async def handshake() -> str | None:
        async with websockets.connect(ws_url + "/echo", compression="deflate") as ws:
            assert ws.request is not None and ws.response is not None
            assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]  # we did offer it
            await ws.send("still works")
            assert await ws.recv() == "still works"
            return ws.response.headers.get("Sec-WebSocket-Extensions")

    return asyncio.run(handshake())


def test_background_server_declines_permessage_deflate() -> None:
    with BackgroundServer(_echo_app()) as server:
        assert _extensions_agreed(server.ws_url) is None


def test_background_server_can_turn_deflate_back_on() -> None:
    with BackgroundServer(_echo_app(), ws_per_message_deflate=True) as server:
        assert "permessage-deflate" in (_extensions_agreed(server.ws_url) or "")


def test_cluster_declines_permessage_deflate(tmp_path: Path) -> None:
    (tmp_path / "echo.py").write_text(ECHO)
    with Cluster(f"{tmp_path / 'echo.py'}:app", factory=False, workers=1) as cluster:
        assert _extensions_agreed(cluster.ws_url) is None


def test_the_course_server_refuses_an_oversized_frame_from_its_header() -> None:
    """ws_max_size = the routes' 64 KiB cap: a bigger frame is closed 1009 before it is buffered."""
    from course_app.limits import WS_MAX_SIZE

    async def send_big(url: str) -> int | None:
        async with websockets.connect(url + "/ws/echo", max_size=None, compression=None) as ws:
            await ws.send("x" * (WS_MAX_SIZE + 1))
            with contextlib.suppress(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            return ws.close_code

    with BackgroundServer() as server:
        assert asyncio.run(send_big(server.ws_url)) == 1009
        assert asyncio.run(_echo_ok(server.ws_url)) == "Server Echo: fits"


async def _echo_ok(url: str) -> str:
    async with websockets.connect(url + "/ws/echo", compression=None) as ws:
        await ws.send("fits")
        return str(await ws.recv())
