"""Run an ASGI app on a real socket, in a background thread: ``BackgroundServer``.

uvicorn in a daemon thread with its own event loop. This is what notebooks and
checks use: the kernel's loop stays free, so synchronous clients (``httpx.get``)
and ``await``-ing clients both work. It is a context manager (``with`` and
``async with``) and stops cleanly. The multi-process shape, ``uvicorn --workers N``,
is ``course_app.cluster.Cluster``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import sys
import threading
import time
from typing import Any

import uvicorn

from course_app._lifecycle import StartStop, free_port

__all__ = ["BackgroundServer", "ServerError", "free_port", "start_server", "stop_server"]

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


class _StartupLog(logging.LoggerAdapter[logging.Logger]):
    """Stands in for the lifespan's logger: keeps what it reports at ERROR, even when log_level hides it."""

    def __init__(self, logger: logging.Logger, into: list[str]) -> None:
        super().__init__(logger)
        self.errors = into

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if level >= logging.ERROR:
            self.errors.append(_summary(msg, args, kwargs.get("exc_info")))
        super().log(level, msg, *args, **kwargs)


def _summary(msg: object, args: tuple[object, ...], exc_info: object) -> str:
    """One line for a logged error: ``Type: message`` of its exception, or of the traceback it carries as text."""
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, tuple):
        exc_info = exc_info[1]
    if isinstance(exc_info, BaseException):
        return f"{type(exc_info).__name__}: {exc_info}"
    text = (str(msg) % args if args else str(msg)).strip()
    return _last_exception(text) if text.startswith("Traceback") else text


def _last_exception(traceback_text: str) -> str:
    """The exception line(s) at the end of a formatted traceback (Starlette sends the lifespan's so)."""
    lines = traceback_text.splitlines()
    tail: list[str] = []
    for line in reversed(lines):
        if not line.strip() or line[0].isspace() or line.startswith("Traceback"):
            break
        tail.append(line)
    if not tail:  # an exception group: its members are indented behind "|"
        for line in reversed(lines):
            if found := re.fullmatch(r"[\s|+]*([A-Za-z_][\w.]*: .+)", line):
                tail = [found.group(1)]
                break
    last = " ".join(reversed(tail)) if tail else lines[-1].strip()
    return re.sub(r"^[\w.]+\.(\w+): ", r"\1: ", last)  # package.module.BroadcastUnavailable -> BroadcastUnavailable


class _QuietServer(uvicorn.Server):
    """A uvicorn server that never touches signal handlers (we are not the main thread),
    and keeps the errors its lifespan reports during start-up (``startup_errors``)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_errors: list[str] = []

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        lifespan = getattr(self, "lifespan", None)  # uvicorn 0.54: made just before, logs via .logger
        logger = getattr(lifespan, "logger", None)
        if not isinstance(logger, logging.Logger):
            return await super().startup(sockets)
        lifespan.logger = _StartupLog(logger, self.startup_errors)  # type: ignore[union-attr]
        try:
            await super().startup(sockets)
        finally:
            lifespan.logger = logger  # type: ignore[union-attr]

    def startup_failure(self) -> str | None:
        """The last specific reason logged during start-up (not uvicorn's generic "Exiting.")."""
        reasons = [text for text in self.startup_errors if not text.startswith("Application startup failed")]
        return reasons[-1] if reasons else None


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
            from course_app.limits import WS_MAX_SIZE

            # The course app's routes cap a message at 64 KiB: uvicorn refuses bigger frames from
            # the frame header (close 1009) before reading them, instead of buffering 16 MiB first.
            uvicorn_options.setdefault("ws_max_size", WS_MAX_SIZE)

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
            # Deflate doubles memory per idle socket (~72 vs ~37 KiB, README); pass ws_per_message_deflate=True to turn it on.
            "ws_per_message_deflate": False,
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
                reason = self._startup_failure()
                raise ServerError(
                    f"The server on port {self.port} stopped during start-up: {reason}"
                    f"{'' if reason.endswith(('.', '!', '?')) else '.'} "
                    "Check the app's lifespan (start-up code) and what it depends on."
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"The server on port {self.port} was not ready after {_READY_TIMEOUT:.0f} s. "
                    "Is the app's start-up code waiting on something?"
                )
            time.sleep(0.005)
        return self

    def _startup_failure(self) -> str:
        assert self._server is not None
        reason = self._server.startup_failure()
        if reason is not None:
            return reason
        if isinstance(self._error, SystemExit):
            return f"uvicorn exited with code {self._error.code}"
        return f"{type(self._error).__name__}: {self._error}"

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
