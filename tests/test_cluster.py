"""uvicorn --workers 3 sharing one Redis: a broadcast reaches clients on every worker; nothing is orphaned.

Also the same code across machines: two separate server processes on different
ports, sharing one Redis, exchange broadcasts.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from course_app.chapters.scaling import MAX_MESSAGE_BYTES
from course_app.realtime import CloseCode
from course_app.redis_server import EmbeddedRedis
from course_app.cluster import Cluster
from course_app.server import BackgroundServer

pytestmark = pytest.mark.slow


def _connect_until_every_worker(cluster: Cluster, stack: ExitStack, workers: int, limit: int = 200) -> dict[int, ClientConnection]:
    """The kernel spreads connections unevenly: keep opening until each worker PID was seen."""
    by_pid: dict[int, ClientConnection] = {}
    for _ in range(limit):
        ws = stack.enter_context(connect(cluster.ws_url + "/scale/ws", open_timeout=5))
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello"
        by_pid.setdefault(hello["pid"], ws)
        if len(by_pid) == workers:
            return by_pid
    raise AssertionError(f"saw only workers {sorted(by_pid)} after {limit} connections")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def test_broadcast_through_redis_reaches_all_three_workers() -> None:
    with Cluster(workers=3) as cluster, ExitStack() as stack:
        by_pid = _connect_until_every_worker(cluster, stack, 3)
        reply = httpx.post(cluster.url + "/scale/publish", params={"text": "goal!"}).json()
        assert reply["receivers"] == 3  # every worker's listener is subscribed
        for pid, ws in by_pid.items():
            message = json.loads(ws.recv(timeout=5))
            while message.get("text") != "goal!":  # skip anything else in flight
                message = json.loads(ws.recv(timeout=5))
            assert message["pid"] == pid  # delivered by the client's own worker
        supervisor = cluster.pid
        workers = list(by_pid)
        redis_pid = cluster._redis.pid  # the cluster owns its Redis
    assert supervisor is not None and not _alive(supervisor)
    assert not [pid for pid in workers if _alive(pid)]
    assert redis_pid is not None and not _alive(redis_pid)


def test_two_servers_on_different_ports_share_one_redis() -> None:
    with EmbeddedRedis() as redis, Cluster(workers=1, redis_url=redis.url) as a, \
            Cluster(workers=1, redis_url=redis.url) as b:
        assert a.port != b.port
        with connect(a.ws_url + "/scale/ws") as on_a, connect(b.ws_url + "/scale/ws") as on_b:
            pid_a = json.loads(on_a.recv(timeout=5))["pid"]
            pid_b = json.loads(on_b.recv(timeout=5))["pid"]
            assert pid_a != pid_b
            on_a.send("hello from a")
            got = json.loads(on_b.recv(timeout=5))
            assert got["text"] == "hello from a" and got["from_pid"] == pid_a and got["pid"] == pid_b


def test_a_cluster_uses_redis_url_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    with EmbeddedRedis() as redis:
        monkeypatch.setenv("REDIS_URL", redis.url)
        with Cluster(workers=1) as cluster, connect(cluster.ws_url + "/scale/ws") as ws:
            assert cluster.redis_url == redis.url and cluster._redis is None  # not ours to start or stop
            ws.recv(timeout=5)  # hello
            assert httpx.post(cluster.url + "/scale/publish", params={"text": "via env"}).json()["receivers"] == 1
            assert json.loads(ws.recv(timeout=5))["text"] == "via env"
        assert redis.running  # the cluster left the shared Redis alone


def test_without_redis_each_worker_is_an_island() -> None:
    """The multi-worker mirage: with no shared Redis, a publish reaches one worker's clients only."""
    with ExitStack() as stack:
        redises = [stack.enter_context(EmbeddedRedis()) for _ in range(2)]
        a = stack.enter_context(Cluster(workers=1, redis_url=redises[0].url))
        b = stack.enter_context(Cluster(workers=1, redis_url=redises[1].url))
        on_b = stack.enter_context(connect(b.ws_url + "/scale/ws"))
        on_b.recv(timeout=5)  # hello
        httpx.post(a.url + "/scale/publish", params={"text": "lost"})
        with pytest.raises(TimeoutError):
            on_b.recv(timeout=1.0)


def test_cluster_start_failure_is_reported() -> None:
    started = time.monotonic()
    with pytest.raises(Exception, match="exited|not ready"):
        Cluster(app="no_such_module:app", workers=2, factory=False).start(ready_timeout=15)
    assert time.monotonic() - started < 15


def test_bad_frames_close_with_a_reason_and_the_worker_keeps_serving() -> None:
    with BackgroundServer() as server:
        for payload, code in ((b"\x00", CloseCode.UNSUPPORTED_DATA), ("x" * (MAX_MESSAGE_BYTES + 1), CloseCode.MESSAGE_TOO_BIG)):
            with connect(server.ws_url + "/scale/ws") as ws:
                ws.recv(timeout=5)  # hello
                ws.send(payload)
                with pytest.raises(ConnectionClosed):
                    while True:
                        ws.recv(timeout=5)
                assert ws.close_code == code and ws.close_reason
        with connect(server.ws_url + "/scale/ws") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
            ws.send("still here")
            assert json.loads(ws.recv(timeout=5))["text"] == "still here"
