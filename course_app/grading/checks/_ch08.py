"""What chapter 08's checks share: a Redis the check owns (so it can restart it), clients that
remember everything they received, and worker crashes reported step by step.

The runner's Redis (REDIS_URL) belongs to the whole run; a check that restarts
Redis starts its own and hands its URL to the learner's workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil  # type: ignore[import-untyped]  # no stubs in the pinned environment
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.grading.checker import CheckFailed
from course_app.grading.kit import learner_crash
from course_app.grading.tracing import raised_in_learner_text

if TYPE_CHECKING:
    from course_app.cluster import Cluster

__all__ = ["Client", "CrashWatch", "busy_workers", "own_redis", "traceback_at_stop", "wait_all"]


@contextlib.asynccontextmanager
async def own_redis(*, persist: bool = False) -> AsyncIterator[Any]:
    """An embedded Redis for this check only, stopped at the end."""
    from course_app.redis_server import EmbeddedRedis, RedisUnavailable

    try:
        server = await asyncio.to_thread(EmbeddedRedis(persist=persist).start)
    except RedisUnavailable as err:
        raise CheckFailed(f"This check restarts Redis, so it starts one of its own, and could not: {err}") from None
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


class CrashWatch:
    """Fails the current step when a worker logged a traceback from the learner's file since the last look."""

    def __init__(self, cluster: Cluster, learner_file: Path) -> None:
        self.cluster = cluster
        self.learner_file = learner_file
        self.seen = len(cluster.crashes)

    def check(self) -> None:
        crashes = list(self.cluster.crashes)
        if len(crashes) == self.seen:
            return
        self.seen = len(crashes)
        where = learner_crash(self.cluster, self.learner_file)
        if where:
            raise CheckFailed(f"A worker ran your code and it raised {where}")


BUSY = 0.1  # CPU seconds per second: an idle worker uses about 0.00, one whose loop never waits uses far more


async def busy_workers(pids: list[int], seconds: float = 1.0) -> dict[int, float]:
    """The workers that burned CPU while nothing was asked of them: {pid: CPU seconds per second}.

    CPU time is a counter, not a clock: a worker whose loop spins is charged for every slice it
    gets, however loaded the machine is, and an idle one is charged nothing.
    """
    procs = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs[pid] = psutil.Process(pid)

    def used() -> dict[int, float]:
        out = {}
        for pid, proc in procs.items():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                out[pid] = times.user + times.system
        return out

    before, started = used(), time.monotonic()
    await asyncio.sleep(seconds)
    after, took = used(), time.monotonic() - started
    rates = {pid: (after[pid] - before[pid]) / took for pid in after if pid in before}
    return {pid: rate for pid, rate in rates.items() if rate >= BUSY}


_TRACEBACK = re.compile(r"^(?:\[worker [^\]]*\] )?Traceback \(most recent call last\):$")


async def traceback_at_stop(cluster: Cluster, learner_file: Path) -> str | None:
    """Stop the workers and return the last traceback from the learner's file that they logged.

    A task that raised keeps its exception until someone awaits it: a listener that died
    shows it only when the lifespan's stop() awaits the task, at shutdown.
    """
    await asyncio.to_thread(cluster.stop)
    lines = cluster.log_tail(300).splitlines()
    found = None
    for i, line in enumerate(lines):
        if not _TRACEBACK.match(line):
            continue
        block = [line]
        for more in lines[i + 1:]:
            block.append(more)
            if more[:1] not in (" ", "\t") and more.strip():
                break
        where = raised_in_learner_text(block[-1].strip(), "\n".join(block), learner_file)
        found = where or found
    return found


class Client:
    """A WebSocket client that reads all the time and keeps every frame it got (JSON decoded when it can be)."""

    def __init__(self, ws: ClientConnection, hello: Any) -> None:
        self.ws = ws
        self.hello = hello
        self.frames: list[Any] = []
        self.closed: tuple[int | None, str] | None = None
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, url: str, timeout: float = 5.0) -> Client:
        ws = await asyncio.wait_for(connect(url, open_timeout=timeout, ping_interval=None), timeout)
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout)
        except BaseException:
            await ws.close()
            raise
        return cls(ws, _decode(raw))

    @property
    def pid(self) -> Any:
        return self.hello.get("pid") if isinstance(self.hello, dict) else None

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(_decode(raw))
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed = (self.ws.close_code, self.ws.close_reason or "")
            self._changed.set()

    async def wait(self, predicate: Callable[[Client], bool], timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            left = deadline - time.monotonic()
            if left <= 0 or (self.closed is not None and not predicate(self)):
                return predicate(self)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return True

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2.0)
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


async def wait_all(clients: list[Client], predicate: Callable[[Client], bool], timeout: float) -> list[bool]:
    return list(await asyncio.gather(*(c.wait(predicate, timeout) for c in clients)))


def _decode(raw: str | bytes) -> Any:
    if isinstance(raw, bytes):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw

