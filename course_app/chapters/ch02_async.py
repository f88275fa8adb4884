"""Chapter 02 demos: where path operations run, and what blocking the event loop costs.

* ``GET /order/{item}`` -- the classic async order: ~3 s of awaiting; two at once still take ~3 s.
* ``GET /ch02/where/async`` and ``/ch02/where/sync`` -- which thread ran the endpoint.
* ``GET /ch02/threadpool`` -- the size of the threadpool that runs ``def`` endpoints.
* ``GET /ch02/sleep/{blocking,await,to-thread,def}?seconds=`` -- the same wait written four ways.
* ``GET /ch02/ping`` -- a cheap endpoint: its latency is the event loop's lag.
* ``GET /ch02/upstream/{service}?delay=`` -- a slow upstream service to call concurrently.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from anyio import to_thread
from fastapi import APIRouter, Query

__all__ = ["ORDER_SECONDS", "router"]

ORDER_SECONDS = 3.0

router = APIRouter(tags=["ch02 async path operations"])

Seconds = Query(0.5, ge=0.0, le=5.0, description="How long to wait (0 to 5 s).")


@router.get("/order/{item}")
async def place_order(item: str) -> dict[str, str]:
    """Cook for ~3 s without holding the event loop: other orders cook at the same time."""
    await asyncio.sleep(ORDER_SECONDS)
    return {"order": item, "status": "ready!"}


# -- where does an endpoint run? --------------------------------------------------
@router.get("/ch02/where/async")
async def where_async() -> dict[str, str]:
    """An ``async def`` endpoint runs on the event loop's own thread."""
    return {"kind": "async def", "thread": threading.current_thread().name}


@router.get("/ch02/where/sync")
def where_sync() -> dict[str, str]:
    """A plain ``def`` endpoint runs in a worker thread of AnyIO's threadpool."""
    return {"kind": "def", "thread": threading.current_thread().name}


@router.get("/ch02/threadpool")
async def threadpool() -> dict[str, int]:
    """How many ``def`` endpoints (and sync background tasks) can run at once, and how many do now."""
    limiter = to_thread.current_default_thread_limiter()
    return {"total_tokens": int(limiter.total_tokens), "borrowed_tokens": int(limiter.borrowed_tokens)}


# -- the same wait, four ways -----------------------------------------------------
class _InFlight:
    """Counts the sleep endpoints running right now (threads and the loop both touch it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0

    @contextmanager
    def one(self) -> Iterator[int]:
        with self._lock:
            self.now += 1
            seen = self.now
        try:
            yield seen
        finally:
            with self._lock:
                self.now -= 1


_in_flight = _InFlight()


def _reply(how: str, seconds: float, in_flight: int) -> dict[str, object]:
    return {"how": how, "slept": seconds, "in_flight": in_flight, "thread": threading.current_thread().name}


@router.get("/ch02/sleep/blocking")
async def sleep_blocking(seconds: float = Seconds) -> dict[str, object]:
    """WRONG on purpose: time.sleep inside async def freezes the whole event loop."""
    with _in_flight.one() as n:
        time.sleep(seconds)
        return _reply("blocking", seconds, n)


@router.get("/ch02/sleep/await")
async def sleep_await(seconds: float = Seconds) -> dict[str, object]:
    """Fix 1: await the async version; the loop serves others meanwhile."""
    with _in_flight.one() as n:
        await asyncio.sleep(seconds)
        return _reply("await", seconds, n)


@router.get("/ch02/sleep/to-thread")
async def sleep_to_thread(seconds: float = Seconds) -> dict[str, object]:
    """Fix 2: hand the blocking call to a thread and await its result."""
    with _in_flight.one() as n:
        await asyncio.to_thread(time.sleep, seconds)
        return _reply("to-thread", seconds, n)


@router.get("/ch02/sleep/def")
def sleep_def(seconds: float = Seconds) -> dict[str, object]:
    """Fix 3: a plain def endpoint; FastAPI runs it in the threadpool for us."""
    with _in_flight.one() as n:
        time.sleep(seconds)
        return _reply("def", seconds, n)


@router.get("/ch02/ping")
async def ping() -> dict[str, bool]:
    """Answers at once, unless the event loop is busy: its latency measures the loop's lag."""
    return {"pong": True}


# -- a slow upstream service --------------------------------------------------------
@router.get("/ch02/upstream/{service}")
async def upstream(service: str, delay: float = Query(0.5, ge=0.0, le=30.0)) -> dict[str, object]:
    """Pretend to be a slow third-party API: answer after ``delay`` seconds."""
    await asyncio.sleep(delay)
    return {"service": service, "price": 10 + len(service), "delay": delay}
