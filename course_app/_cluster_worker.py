"""Runs inside every worker of a ``Cluster`` (uvicorn loads ``app`` below as a factory).

Three jobs, done before the real app is imported:

* die with the uvicorn supervisor: PR_SET_PDEATHSIG, so a killed supervisor
  never leaves workers serving on their own;
* log as framed JSON lines on stderr, so the owner can turn every worker's
  records (tracebacks included) back into log records, whatever the volume;
* report "ready" when the app's lifespan start-up completes, so the owner
  knows when every worker -- not just the first -- is serving.

The owner passes the real app in ``COURSE_CLUSTER_APP`` (``module:attr`` or
``path/to/file.py:attr``) and ``COURSE_CLUSTER_FACTORY`` (``1``: call it).
Nothing here is for learners.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from course_app._lifecycle import die_with_parent

__all__ = ["FRAME", "app"]

FRAME = "\x1ecourse-worker "  # starts every framed line; the record separator never appears in logs
_CHUNK = 3000  # a framed line stays under PIPE_BUF (4096), so lines from several workers never interleave
STARTUP_FAILURE = 3  # uvicorn's code: the supervisor stops instead of restarting the worker forever


class _FramedJson(logging.Handler):
    """Writes each record as JSON, cut into frames that one ``write()`` each puts on the pipe whole."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            payload: dict[str, Any] = {
                "kind": "log", "name": record.name, "level": record.levelno, "message": record.getMessage(),
            }
            if record.exc_info and record.exc_info[1] is not None:
                err = record.exc_info[1]
                payload["crash"] = f"{type(err).__name__}: {err}"
                payload["traceback"] = "".join(traceback.format_exception(err))
            send(payload)
        except Exception:  # noqa: BLE001 - logging must never take the worker down
            self.handleError(record)


_send_guard = threading.Lock()


def send(payload: dict[str, Any]) -> None:
    text = json.dumps(payload)  # ASCII only: characters are bytes, so chunks stay under PIPE_BUF
    pid = os.getpid()
    parts = [text[i:i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
    with _send_guard:
        for n, part in enumerate(parts):
            more = "+" if n < len(parts) - 1 else "."
            os.write(2, f"{FRAME}{pid} {more} {part}\n".encode())


def _die_with_supervisor() -> None:
    parent = multiprocessing.parent_process()
    die_with_parent(signal.SIGKILL)
    if parent is not None and os.getppid() != parent.pid:  # it died before we asked
        os._exit(1)


def _log_as_frames() -> None:
    handler = _FramedJson()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


def _import(target: str) -> Any:
    module_part, _, attr = target.rpartition(":")
    if module_part.endswith(".py"):
        path = Path(module_part).resolve()
        sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_part)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise AttributeError(f"{module_part} has no `{attr}`") from None


class _ReportReady:
    """Passes everything through; says "ready" once the app's lifespan start-up completed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send_: Any) -> None:
        if scope["type"] != "lifespan":
            await self.inner(scope, receive, send_)
            return
        said = False

        async def watch(message: Any) -> None:
            nonlocal said
            if message["type"].startswith("lifespan.startup."):
                said = True
                if message["type"] == "lifespan.startup.complete":
                    _announce()
            await send_(message)

        try:
            await self.inner(scope, receive, watch)
        except BaseException:
            if not said:  # an app without lifespan support: uvicorn carries on without it
                _announce()
            raise


_probes: set[asyncio.Task[None]] = set()


def _announce() -> None:
    """Say "ready". A lone worker binds its socket only after the lifespan: wait until it listens."""
    probe = os.environ.get("COURSE_CLUSTER_PROBE")
    if not probe:
        send({"kind": "ready"})  # the supervisor's socket already listens
        return
    host, _, port = probe.rpartition(":")

    async def when_listening() -> None:
        while True:
            try:
                _, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            send({"kind": "ready"})
            return

    task = asyncio.get_running_loop().create_task(when_listening())
    _probes.add(task)
    task.add_done_callback(_probes.discard)


def app() -> Any:
    """The factory uvicorn calls in each worker."""
    _die_with_supervisor()
    _log_as_frames()
    target = os.environ["COURSE_CLUSTER_APP"]
    try:
        loaded = _import(target)
        if os.environ.get("COURSE_CLUSTER_FACTORY") == "1":
            loaded = loaded()
    except BaseException:  # the app cannot load: say why once, and stop the cluster instead of a crash loop
        logging.getLogger("uvicorn.error").exception("Could not load %s", target)
        sys.exit(STARTUP_FAILURE)
    return _ReportReady(loaded)
