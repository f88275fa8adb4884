"""Faults and waiting, shared by checks and tests: the things that go wrong in production, on purpose.

    wait_until(lambda: len(cluster.worker_pids()) == 3, 10, "three workers")
    async with stalled_reader(server.ws_url + "/live-score") as slow: ...
    reset_connection(ws)                       # a TCP RST: no close frame, no FIN
    kill_worker(cluster)                       # SIGKILL one worker; uvicorn replaces it
    restart_redis(redis)                       # kill -9, back on the same port
    with redis_outage(redis): ...              # down for the body, back afterwards

Every helper waits on a condition with a deadline, never on a fixed sleep,
and says what it was waiting for when the deadline passes.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import os
import signal
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from course_app.cluster import Cluster
    from course_app.redis_server import EmbeddedRedis

__all__ = [
    "NotYet", "StalledReader", "async_wait_until", "kill_worker", "redis_outage", "reset_connection",
    "restart_redis", "stalled_reader", "wait_until",
]

R = TypeVar("R")


class NotYet(TimeoutError):
    """What we waited for did not happen in time; the message names it."""


def _not_yet(what: str, timeout: float, last: object) -> NotYet:
    return NotYet(f"Waited {timeout:g} s for {what}, and it did not happen (last seen: {last!r}).")


def wait_until(predicate: Callable[[], R], timeout: float = 5.0, what: str = "the condition",
               interval: float = 0.02) -> R:
    """Call ``predicate`` until it returns something truthy, and return that; ``NotYet`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise _not_yet(what, timeout, last)
        time.sleep(interval)


async def async_wait_until(predicate: Callable[[], R | Awaitable[R]], timeout: float = 5.0,
                           what: str = "the condition", interval: float = 0.02) -> R:
    """``wait_until`` for coroutines: ``predicate`` may be a plain function or an async one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        last: R = await value if inspect.isawaitable(value) else value
        if last:
            return last
        if loop.time() >= deadline:
            raise _not_yet(what, timeout, last)
        await asyncio.sleep(interval)


# -- connections ------------------------------------------------------------------
def reset_connection(conn: Any) -> None:
    """Drop a connection with a TCP RST (SO_LINGER 0): no close frame, no FIN, as when a phone loses its network.

    ``conn``: a socket, an asyncio transport or StreamWriter, or a ``websockets`` client
    connection (asyncio or sync).
    """
    transport = getattr(conn, "transport", conn)
    sock = conn if isinstance(conn, socket.socket) else getattr(conn, "socket", None)
    if sock is None and hasattr(transport, "get_extra_info"):
        sock = transport.get_extra_info("socket")
    if sock is None:
        raise TypeError(f"reset_connection needs a socket, a transport or a websockets connection, not {conn!r}")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if hasattr(transport, "abort"):
        transport.abort()
    else:
        sock.close()


@dataclass
class StalledReader:
    """A WebSocket client that finished the handshake and then never reads a byte."""

    sock: socket.socket
    response: bytes  # the server's 101 response head

    def reset(self) -> None:
        """Vanish with a TCP RST (the server's pending writes fail at once)."""
        if self.sock.fileno() != -1:
            reset_connection(self.sock)


@asynccontextmanager
async def stalled_reader(ws_url: str, *, receive_buffer: int = 4096,
                         headers: dict[str, str] | None = None, timeout: float = 5.0) -> AsyncIterator[StalledReader]:
    """Open a WebSocket on a raw socket, complete the handshake, then never read.

    The receive buffer is tiny (set before connecting, so it also sets the TCP window),
    so the server's writes to this client stall after a few KiB. On exit the
    connection is reset, so no buffers stay pinned.
    """
    parts = urlsplit(ws_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader: StalledReader | None = None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")
        await loop.sock_sendall(sock, request.encode())
        response = b""
        while b"\r\n\r\n" not in response:  # read the response head only, never a frame on purpose
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1), timeout)
            if not chunk:
                raise ConnectionError(f"{ws_url} closed the connection during the handshake: {response!r}")
            response += chunk
        if not response.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"{ws_url} refused the WebSocket: {response.splitlines()[0].decode(errors='replace')}")
        reader = StalledReader(sock, response)
        yield reader
    finally:
        if reader is not None:
            reader.reset()
        sock.close()


# -- processes ----------------------------------------------------------------------
def kill_worker(cluster: Cluster, pid: int | None = None, *, timeout: float = 15.0) -> int:
    """SIGKILL one worker of a cluster (default: the first), wait until uvicorn replaced it; return the new PID."""
    if cluster.workers < 2:
        raise ValueError("A one-worker cluster has no supervisor to replace its worker; start it with workers=2 or more.")
    before = wait_until(cluster.worker_pids, timeout, "a cluster with running workers")
    victim = pid if pid is not None else before[0]
    if victim not in before:
        raise ValueError(f"{victim} is not one of this cluster's workers {before}.")
    os.kill(victim, signal.SIGKILL)

    def replaced() -> list[int]:
        now = cluster.worker_pids()
        return [p for p in now if p not in before] if victim not in now and len(now) == cluster.workers else []

    return wait_until(replaced, timeout, f"uvicorn to replace worker {victim}")[0]


def restart_redis(server: EmbeddedRedis, *, timeout: float = 10.0) -> int:
    """kill -9 the redis-server and wait until a new one answers on the same port; return its PID.

    A supervised server (the default) is brought back by its watcher; otherwise we start it here.
    """
    import redis

    old = server.kill()
    if not server.supervise:
        server.start()

    def answering() -> bool:
        if server.pid in (None, old):
            return False
        try:
            with redis.Redis(port=server.port, socket_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    wait_until(answering, timeout, f"Redis to come back on port {server.port}")
    assert server.pid is not None
    return server.pid


@contextmanager
def redis_outage(server: EmbeddedRedis) -> Iterator[None]:
    """Redis is down (killed, not restarted) for the body; afterwards it is back on the same port."""
    supervised = server.supervise
    server.supervise = False
    try:
        server.kill()
        yield
    finally:
        try:
            server.start()
        finally:
            server.supervise = supervised
