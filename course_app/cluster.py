"""``uvicorn --workers N`` as a subprocess: the production shape, owned like everything else we start.

    with Cluster(workers=3) as cluster:
        cluster.url, cluster.redis_url, cluster.worker_pids()

What the owner gets besides the port:

* every worker's log records, read continuously from one pipe by a thread and
  re-emitted on the owner's loggers (``capture_logs("uvicorn.error")`` sees a
  crash in any worker; ``cluster.crashes`` keeps the last few); a worker never
  blocks on a full pipe, and ``cluster.log_tail()`` keeps the last lines for
  error messages;
* start-up that waits for *every* worker's lifespan, and an error with the
  workers' last lines when the app cannot start;
* nothing left behind: the supervisor gets SIGKILL when its owner dies, each
  worker gets SIGKILL when the supervisor dies, and ``stop()`` reaps the group.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from typing import IO, Any, NamedTuple

from course_app._cluster_worker import FRAME
from course_app._lifecycle import StartStop, free_port, parent_death_signal
from course_app.server import ServerError

__all__ = ["Cluster", "WorkerCrash"]

log = logging.getLogger("course_app.cluster")

_TAIL_LINES = 300
_LINE_CAP = 2000
_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
           "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}
_LEVEL_PREFIX = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL):\s+")


class WorkerCrash(NamedTuple):
    """An exception a worker logged with its traceback (or printed, uncaught)."""

    pid: int | None
    summary: str  # "ZeroDivisionError: division by zero"
    traceback: str


class Cluster(StartStop):
    """``uvicorn --workers N`` as a subprocess: N processes, one port, one shared Redis.

    ``app`` is an import string (``module:attr`` or ``path/to/file.py:attr``);
    ``factory=True`` calls it to get the app. Without ``redis_url`` the cluster
    uses REDIS_URL, or starts (and later stops) an embedded Redis of its own.
    """

    def __init__(
        self,
        app: str = "course_app.app:create_app",
        *,
        workers: int = 3,
        port: int = 0,
        host: str = "127.0.0.1",
        redis_url: str | None = None,
        redis_persist: bool = False,
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
        self._redis_persist = redis_persist
        self._redis: Any = None
        self._env = env or {}
        self._extra_args = extra_args or []
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._guard = threading.Lock()
        self._ready: set[int] = set()
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self.crashes: deque[WorkerCrash] = deque(maxlen=50)

    # -- addresses and state ---------------------------------------------------
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
    def redis(self) -> Any:
        """The ``EmbeddedRedis`` this cluster started, or None (REDIS_URL or a given URL)."""
        return self._redis

    @property
    def pid(self) -> int | None:
        """The uvicorn supervisor (with one worker: the only process)."""
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def worker_pids(self) -> list[int]:
        """PIDs of the workers that are alive and finished their start-up."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return []
        with self._guard:
            self._ready = {pid for pid in self._ready if _exists(pid)}  # the supervisor reaps dead ones
            return sorted(self._ready)

    def log_tail(self, lines: int = 40) -> str:
        """The workers' last lines of output (log records, tracebacks, prints)."""
        with self._guard:
            return "\n".join(list(self._tail)[-lines:])

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Cluster {self.url} workers={self.workers} {state}>"

    # -- lifecycle -------------------------------------------------------------
    def _course_limits(self) -> list[str]:
        """The course app caps a message at 64 KiB: uvicorn refuses bigger frames from the header (1009)."""
        if self.app != "course_app.app:create_app" or "--ws-max-size" in self._extra_args:
            return []
        from course_app.limits import WS_MAX_SIZE

        return ["--ws-max-size", str(WS_MAX_SIZE)]

    def start(self, ready_timeout: float = 20.0) -> "Cluster":
        if self.running:
            return self
        if self._redis_url is None:
            from course_app.redis_server import acquire_redis

            self._redis_url, self._redis = acquire_redis(persist=self._redis_persist)
        env = {
            **os.environ, **self._env,
            "REDIS_URL": self._redis_url,
            "COURSE_CLUSTER_APP": self.app,
            "COURSE_CLUSTER_FACTORY": "1" if self.factory else "0",
            "COURSE_CLUSTER_PROBE": f"{self.host}:{self.port}" if self.workers == 1 else "",
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [
            sys.executable, "-m", "uvicorn", "course_app._cluster_worker:app", "--factory",
            "--host", self.host, "--port", str(self.port),
            "--workers", str(self.workers),
            "--log-level", "warning", "--no-access-log",
            "--timeout-graceful-shutdown", "2",
            # Deflate doubles memory per idle socket (~72 vs ~37 KiB, README); extra_args "--ws-per-message-deflate true" turns it on.
            "--ws-per-message-deflate", "false",
            *(self._course_limits()),
            *self._extra_args,
        ]
        self._ready.clear()
        # The supervisor dies with its owner (SIGKILL: a stuck worker cannot hold it up); the kernel
        # means the owner's *thread*, so the reader thread, which lives as long as the cluster's
        # output does, starts it. The workers set their own death signal (see _cluster_worker).
        spawned: queue.Queue[subprocess.Popen[bytes] | BaseException] = queue.Queue()
        self._reader = threading.Thread(
            target=self._spawn_and_read, args=(cmd, env, spawned), name=f"cluster-{self.port}-output", daemon=True
        )
        self._reader.start()
        outcome = spawned.get()
        if isinstance(outcome, BaseException):
            raise outcome
        self._proc = outcome
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while len(self.worker_pids()) < self.workers:
            code = self._proc.poll()
            if code is not None:
                if self._reader is not None:
                    self._reader.join(2)  # let it read the last words
                raise ServerError(
                    f"uvicorn --workers {self.workers} ({self.app}) exited with code {code} during start-up. "
                    f"Its last lines:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ServerError(
                    f"The cluster on port {self.port} had {len(self.worker_pids())} of {self.workers} workers "
                    f"ready after {timeout:.0f} s. Is the app's start-up (lifespan) waiting on something? "
                    f"The workers' last lines:\n{self.log_tail() or '(nothing)'}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group (workers close WebSockets with 1012), SIGKILL what is left, reap."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait(timeout)
                _reap_group(proc.pid)
                if self._reader is not None:
                    self._reader.join(2)  # a straggler holding the pipe keeps it busy: it is a daemon
                self._reader = None
        finally:
            if self._redis is not None:
                self._redis.stop()
                self._redis = None
                self._redis_url = None

    # -- the workers' output -----------------------------------------------------
    def _spawn_and_read(self, cmd: list[str], env: dict[str, str],
                        spawned: queue.Queue[subprocess.Popen[bytes] | BaseException]) -> None:
        """Start uvicorn with stdout and stderr on one pipe, then drain that pipe until every writer closed it."""
        read_end, write_end = os.pipe()
        try:
            proc = subprocess.Popen(
                cmd, env=env, start_new_session=True, preexec_fn=parent_death_signal(signal.SIGKILL),
                stdin=subprocess.DEVNULL, stdout=write_end, stderr=write_end,
            )
        except BaseException as err:  # noqa: BLE001 - handed to start(), which raises it
            os.close(read_end)
            spawned.put(err)
            return
        finally:
            os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            spawned.put(proc)
            self._read(pipe)

    def _read(self, pipe: IO[bytes]) -> None:
        """Drain the pipe; never let a bad line stop the draining."""
        partial: dict[int, list[str]] = {}
        block: list[str] | None = None  # an uncaught traceback printed raw, being collected
        for raw in pipe:
            line = raw.decode(errors="replace").rstrip("\n")
            text, _, framed = line.partition(FRAME)
            try:
                if text:
                    block = self._raw_line(text, block)
                if framed:
                    self._frame(framed, partial)
            except Exception:  # noqa: BLE001 - a garbled line is dropped, the pipe keeps draining
                log.debug("unreadable worker output: %r", line[:200])

    def _frame(self, framed: str, partial: dict[int, list[str]]) -> None:
        pid_text, more, chunk = framed.split(" ", 2)
        pid = int(pid_text)
        partial.setdefault(pid, []).append(chunk)
        if more == "+":
            return
        payload = json.loads("".join(partial.pop(pid)))
        if payload["kind"] == "ready":
            with self._guard:
                self._ready.add(pid)
            return
        self._emit(payload["name"], int(payload["level"]), payload["message"], pid,
                   payload.get("crash"), payload.get("traceback"))

    def _raw_line(self, text: str, block: list[str] | None) -> list[str] | None:
        if block is None and text.startswith("Traceback (most recent call last):"):
            return [text]
        if block is not None:
            block.append(text)
            if (text[:1] in (" ", "\t") or not text.strip()) and len(block) < 1000:
                return block
            self._raw_traceback(block)
            return None
        match = _LEVEL_PREFIX.match(text)
        level = _LEVELS[match.group(1)] if match else logging.INFO
        self._emit("course_app.cluster", level, text[match.end():] if match else text, None, None, None)
        return None

    def _raw_traceback(self, block: list[str]) -> None:
        self._emit("course_app.cluster", logging.ERROR, "A worker printed a traceback", None,
                   block[-1].strip(), "\n".join(block))

    def _emit(self, name: str, level: int, message: str, pid: int | None,
              crash: str | None, trace: str | None) -> None:
        with self._guard:
            self._tail.append(f"[worker {pid or '?'}] {message}"[:_LINE_CAP])
            if trace:
                self._tail.extend(line[:_LINE_CAP] for line in trace.rstrip().splitlines())
            if crash:
                self.crashes.append(WorkerCrash(pid, crash, trace or ""))
        logger = logging.getLogger(name)
        if logger.isEnabledFor(level):
            record = logging.makeLogRecord({
                "name": name, "levelno": level, "levelname": logging.getLevelName(level),
                "msg": message, "exc_text": trace.rstrip() if trace else None,
                "worker_pid": pid, "crash": crash, "traceback": trace,
            })
            logger.handle(record)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
