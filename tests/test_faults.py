"""The fault kit (course_app.faults) against real servers: each helper does the fault it names, and no more."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import websockets
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.cluster import Cluster
from course_app.faults import (
    NotYet, async_wait_until, kill_worker, redis_outage, reset_connection, restart_redis, stalled_reader, wait_until,
)
from course_app.redis_server import EmbeddedRedis
from course_app.server import BackgroundServer


# -- waiting -----------------------------------------------------------------------------
def test_wait_until_returns_the_value_and_names_what_it_waited_for() -> None:
    calls = iter([0, [], [3]])
    assert wait_until(lambda: next(calls), 5, "a list") == [3]
    with pytest.raises(NotYet, match=r"Waited 0.05 s for the answer to appear, .* \(last seen: None\)"):
        wait_until(lambda: None, 0.05, "the answer to appear")


def test_async_wait_until_takes_plain_and_async_predicates() -> None:
    async def scenario() -> tuple[int, int]:
        ticks = iter(range(10))

        async def later() -> int:
            return next(ticks)

        got_async = await async_wait_until(later, 5, "a tick above 2", interval=0.001)
        got_plain = await async_wait_until(lambda: 7, 1, "seven")
        with pytest.raises(NotYet, match="never"):
            await async_wait_until(lambda: False, 0.05, "never")
        return got_async, got_plain

    assert asyncio.run(scenario()) == (1, 7)


# -- connections --------------------------------------------------------------------------
class _Flood:
    """An app that writes 64 KiB frames to /flood as fast as the client takes them, counting bytes."""

    def __init__(self) -> None:
        self.sent = 0
        self.ended = 0
        self.app = FastAPI()
        self.app.add_api_websocket_route("/flood", self.flood)
        self.app.add_api_websocket_route("/hold", self.hold)

    async def flood(self, ws: WebSocket) -> None:
        await ws.accept()
        chunk = b"x" * 65536
        try:
            while True:
                await ws.send_bytes(chunk)
                self.sent += len(chunk)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            self.ended += 1

    async def hold(self, ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            self.ended += 1


@pytest.fixture(scope="module")
def flood() -> Iterator[tuple[_Flood, BackgroundServer]]:
    app = _Flood()
    with BackgroundServer(app.app) as server:
        yield app, server


def test_a_stalled_reader_stalls_the_servers_writes_and_is_reset_on_exit(flood: tuple[_Flood, BackgroundServer]) -> None:
    app, server = flood
    ended = app.ended

    async def scenario() -> list[int]:
        async with stalled_reader(server.ws_url + "/flood") as slow:
            assert slow.response.startswith(b"HTTP/1.1 101")
            samples = [app.sent]
            while len(samples) < 3 or len(set(samples[-3:])) > 1:  # until the count stops moving
                await asyncio.sleep(0.2)
                samples.append(app.sent)
                assert len(samples) < 100, samples
        return samples

    samples = asyncio.run(scenario())
    assert 0 < samples[-1] < 32 * 2**20  # kernel buffers' worth, then nothing: a healthy client takes unlimited
    wait_until(lambda: app.ended == ended + 1, 5, "the flood handler to end after the reset")


@pytest.mark.parametrize("how", ["websockets connection", "raw socket"])
def test_reset_connection_ends_the_servers_handler(flood: tuple[_Flood, BackgroundServer], how: str) -> None:
    app, server = flood
    ended = app.ended

    async def scenario() -> None:
        if how == "raw socket":
            sock = socket.create_connection(("127.0.0.1", server.port))
            ws = await websockets.connect(server.ws_url + "/hold", sock=sock)
            reset_connection(sock)
            ws.transport.abort()
        else:
            ws = await websockets.connect(server.ws_url + "/hold")
            reset_connection(ws)
        await async_wait_until(lambda: app.ended == ended + 1, 5, "the handler to notice the reset")

    asyncio.run(scenario())


def test_reset_connection_says_what_it_needs() -> None:
    with pytest.raises(TypeError, match="needs a socket"):
        reset_connection(object())


# -- processes ----------------------------------------------------------------------------
def test_kill_worker_returns_the_replacement(tmp_path: Path) -> None:
    app = tmp_path / "tiny.py"
    app.write_text("from fastapi import FastAPI\napp = FastAPI()\n")
    with Cluster(f"{app}:app", factory=False, workers=2) as cluster:
        before = cluster.worker_pids()
        new = kill_worker(cluster, before[1])
        assert new not in before and sorted([before[0], new]) == cluster.worker_pids()
    with pytest.raises(ValueError, match="no supervisor"):
        kill_worker(Cluster(workers=1))


def _ping(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.mark.parametrize("supervised", [True, False])
def test_restart_redis_brings_it_back_on_the_same_port(supervised: bool) -> None:
    with EmbeddedRedis(restart=supervised) as server:
        url, old = server.url, server.pid
        new = restart_redis(server)
        assert new != old and server.pid == new and server.url == url and _ping(url)


def test_redis_outage_keeps_it_down_for_the_body_only() -> None:
    with EmbeddedRedis() as server:
        url = server.url
        with redis_outage(server):
            assert not _ping(url)
            assert not server.running and not server.supervise
        assert _ping(url) and server.supervise and server.url == url
