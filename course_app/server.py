"""Run an ASGI app on a real socket: in a background thread, or as a uvicorn cluster.

Two shapes, one idea each:

* ``BackgroundServer`` -- uvicorn in a daemon thread with its own event loop.
  This is what notebooks and checks use: the kernel's loop stays free, so
  synchronous clients (``httpx.get``) and ``await``-ing clients both work.
* ``Cluster`` -- ``uvicorn --workers N`` as a subprocess, the real production
  shape, every worker told the same ``REDIS_URL``.

Both are context managers (``with`` and ``async with``) and both stop cleanly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import uvicorn

from course_app._lifecycle import StartStop, die_with_parent

__all__ = ["BackgroundServer", "Cluster", "ServerError", "start_server", "stop_server"]

_READY_TIMEOUT = 10.0
_running: dict[str, "BackgroundServer"] = {}


class ServerError(RuntimeError):
    """The server could not start; the message says why and what to do."""


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ServerError(
            f"Port {port} on {host} is taken ({err.strerror}). "
            "Stop the other server, or pass port=0 to pick a free port."
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for subprocesses that bind themselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _QuietServer(uvicorn.Server):
    """A uvicorn server that never touches signal handlers (we are not the main thread)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


class BackgroundServer(StartStop):
    """An ASGI app served by uvicorn on a real socket from a daemon thread.

    >>> with BackgroundServer(app) as server:
    ...     httpx.get(server.url + "/whoami")
    """

    def __init__(
        self,
        app: Any = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        graceful_timeout: float = 2.0,
        **uvicorn_options: Any,
    ) -> None:
        if app is None:
            from course_app.app import create_app

            app = create_app()
        self.app = app
        self.host = host
        self._requested_port = port
        self._config_kwargs: dict[str, Any] = {
            # uvicorn's default log config runs dictConfig, which strips the handlers of the
            # host process's "uvicorn.*" loggers (a notebook's, a check's, a test's). Without
            # it, records propagate to whatever logging the host set up.
            "log_config": None,
            "log_level": log_level,
            "access_log": False,
            "timeout_graceful_shutdown": graceful_timeout,
            "lifespan": "on",
            **uvicorn_options,
        }
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None
        self.port = 0

    # -- addresses -----------------------------------------------------------
    @property
    def url(self) -> str:
        """Base HTTP URL, e.g. ``http://127.0.0.1:53211``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Base WebSocket URL, e.g. ``ws://127.0.0.1:53211``."""
        return f"ws://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BackgroundServer {self.url} {state}>"

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> "BackgroundServer":
        if self.running:
            return self
        self._socket = _bind(self.host, self._requested_port)
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(self.app, host=self.host, port=self.port, **self._config_kwargs)
        self._server = _QuietServer(config)
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _READY_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                self._close_socket()
                raise ServerError(
                    f"The server on port {self.port} stopped during start-up: "
                    f"{self._error!r}. Check the app's lifespan (start-up code) for errors."
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"The server on port {self.port} was not ready after {_READY_TIMEOUT:.0f} s. "
                    "Is the app's start-up code waiting on something?"
                )
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as err:  # SystemExit from a failed lifespan, too
            self._error = err

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def stop(self, timeout: float = 3.0) -> None:
        """Ask uvicorn to shut down (WebSockets get 1012) and wait for the thread.

        A thread stuck in blocking app code cannot be stopped from outside; after
        ``timeout`` it is left behind (it is a daemon, so it dies with the process).
        """
        try:
            if self._server is not None:
                self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout)
                if self._thread.is_alive() and self._server is not None:
                    self._server.force_exit = True
                    self._thread.join(1.0)
        finally:
            self._close_socket()
            self._thread = None



def start_server(app: Any = None, *, name: str = "course", **options: Any) -> BackgroundServer:
    """Start (or restart) the server called ``name``; safe to run in a notebook cell again.

    The previous server with the same name is stopped first, so re-running a cell
    never leaves two servers behind.
    """
    stop_server(name)
    server = BackgroundServer(app, **options).start()
    _running[name] = server
    return server


def stop_server(name: str = "course") -> None:
    """Stop the server started under ``name`` (no error if there is none)."""
    server = _running.pop(name, None)
    if server is not None:
        server.stop()


class Cluster(StartStop):
    """``uvicorn --workers N`` as a subprocess: N processes, one port, one shared Redis.

    >>> with Cluster(workers=3) as cluster:
    ...     cluster.url, cluster.redis_url
    """

    def __init__(
        self,
        app: str = "course_app.app:create_app",
        *,
        workers: int = 3,
        port: int = 0,
        host: str = "127.0.0.1",
        redis_url: str | None = None,
        factory: bool = True,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.app = app
        self.workers = workers
        self.host = host
        self.port = port or free_port(host)
        self.factory = factory
        self._redis_url = redis_url
        self._redis: Any = None
        self._env = env or {}
        self._extra_args = extra_args or []
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def redis_url(self) -> str | None:
        return self._redis_url

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, ready_timeout: float = 20.0) -> "Cluster":
        if self._redis_url is None:
            from course_app.redis_server import acquire_redis

            self._redis_url, self._redis = acquire_redis()
        env = {**os.environ, **self._env, "REDIS_URL": self._redis_url}
        cmd = [
            sys.executable, "-m", "uvicorn", self.app,
            "--host", self.host, "--port", str(self.port),
            "--workers", str(self.workers),
            "--log-level", "warning", "--no-access-log",
            "--timeout-graceful-shutdown", "2",
            *self._extra_args,
        ]
        if self.factory:
            cmd.append("--factory")
        self._proc = subprocess.Popen(
            cmd, env=env, start_new_session=True, preexec_fn=die_with_parent,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + ready_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(errors="replace")
                self.stop()
                raise ServerError(
                    f"uvicorn --workers {self.workers} exited with code {code} during start-up:\n{err[-2000:]}"
                )
            try:
                if httpx.get(self.url + "/whoami", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"The cluster on port {self.port} was not ready after {ready_timeout:.0f} s.")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the supervisor (it stops its workers), then make sure the group is gone."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout)
            if proc is not None:
                _reap_group(proc.pid)
                if proc.stderr:
                    proc.stderr.close()
        finally:
            if self._redis is not None:
                self._redis.stop()
                self._redis = None
                self._redis_url = None



def _reap_group(pgid: int, timeout: float = 5.0) -> None:
    """Wait until no process of the group is left, killing stragglers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)

