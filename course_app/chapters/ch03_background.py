"""Chapter 03 demos: BackgroundTasks run after the response, in order, and you can watch them.

Every task writes to an in-memory *outbox* that anyone can read over HTTP:

* ``GET /outbox`` -- what the tasks did, oldest first, each entry with its time since the reset.
* ``DELETE /outbox`` -- empty it and restart its clock.

The classic routes: ``POST /process/``, ``POST /notify/{user_id}``, ``POST /signup?email=``
and ``POST /order?order_id=`` (three tasks, in order). The chapter's own demos:
``POST /ch03/chain`` (a task that raises stops the ones after it, unless guarded) and
``POST /ch03/crunch`` (CPU-heavy work in a task, on the loop or in a thread).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query

__all__ = ["Outbox", "outbox", "router"]

log = logging.getLogger(__name__)

PROCESS_SECONDS = 1.0
NOTIFY_SECONDS = 0.5
WELCOME_SECONDS = 0.5
STEP_SECONDS = 0.2


class Outbox:
    """A bounded, thread-safe log of side effects: sync tasks write from worker threads."""

    def __init__(self, maxlen: int = 1000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._start = time.monotonic()
        self._seq = 0

    def write(self, event: str) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append({
                "seq": self._seq,
                "t": round(time.monotonic() - self._start, 3),
                "event": event,
                "thread": threading.current_thread().name,
            })

    def read(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def reset(self) -> int:
        with self._lock:
            cleared = len(self._entries)
            self._entries.clear()
            self._start = time.monotonic()
            return cleared


outbox = Outbox()

router = APIRouter(tags=["ch03 background tasks"])


@router.get("/outbox")
async def read_outbox() -> dict[str, list[dict[str, Any]]]:
    """Side effects of background tasks, oldest first; ``t`` is seconds since the last reset."""
    return {"entries": outbox.read()}


@router.delete("/outbox")
async def reset_outbox() -> dict[str, int]:
    """Empty the outbox and restart its clock at 0."""
    return {"cleared": outbox.reset()}


# -- the classic routes ---------------------------------------------------------------
def write_log(message: str) -> None:
    """Sync task: slow I/O, so it runs in the threadpool."""
    time.sleep(PROCESS_SECONDS)
    outbox.write(f"log: {message}")


@router.post("/process/")
async def process_data(data: dict[str, Any], background_tasks: BackgroundTasks) -> dict[str, str]:
    background_tasks.add_task(write_log, f"processed {data}")
    return {"status": "accepted"}


async def notify_user(user_id: int, message: str) -> None:
    """Async task: awaits, so it runs on the event loop."""
    await asyncio.sleep(NOTIFY_SECONDS)
    outbox.write(f"notify {user_id}: {message}")


@router.post("/notify/{user_id}")
async def notify(user_id: int, background_tasks: BackgroundTasks) -> dict[str, str]:
    background_tasks.add_task(notify_user, user_id, "you have a notification")
    return {"detail": "notification queued"}


async def send_welcome_email(email: str) -> None:
    await asyncio.sleep(WELCOME_SECONDS)
    outbox.write(f"welcome email to {email}")


@router.post("/signup")
async def signup(email: str, background_tasks: BackgroundTasks) -> dict[str, str]:
    background_tasks.add_task(send_welcome_email, email)
    return {"message": "Welcome!"}


def save_to_database(order_id: str) -> None:
    time.sleep(STEP_SECONDS)
    outbox.write(f"order {order_id}: saved to database")


async def notify_kitchen(order_id: str) -> None:
    await asyncio.sleep(STEP_SECONDS)
    outbox.write(f"order {order_id}: kitchen notified")


def send_receipt(order_id: str) -> None:
    time.sleep(STEP_SECONDS)
    outbox.write(f"order {order_id}: receipt sent")


@router.post("/order")
async def create_order(order_id: str, background_tasks: BackgroundTasks) -> dict[str, str]:
    """Three tasks, run one after another in the order they were added (sync, async, sync)."""
    background_tasks.add_task(save_to_database, order_id)
    background_tasks.add_task(notify_kitchen, order_id)
    background_tasks.add_task(send_receipt, order_id)
    return {"order_id": order_id}


# -- a task that raises -----------------------------------------------------------------
def _step(name: str, fail: bool) -> Callable[[], None]:
    def run() -> None:
        outbox.write(f"chain: {name} started")
        if fail:
            raise RuntimeError(f"{name} failed (on purpose, for the demo)")
        outbox.write(f"chain: {name} done")

    run.__name__ = name
    return run


def _guarded(task: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    """Run a sync task in the threadpool; log a failure instead of letting it stop the rest."""
    from starlette.concurrency import run_in_threadpool

    async def run() -> None:
        try:
            await run_in_threadpool(task)
        except Exception:
            log.exception("background task %s failed", task.__name__)
            outbox.write(f"chain: {task.__name__} FAILED (logged)")

    return run


@router.post("/ch03/chain")
async def chain(
    background_tasks: BackgroundTasks,
    fail_at: int = Query(0, ge=0, le=3, description="Which of the 3 tasks raises (1-3); 0 for none."),
    guard: bool = Query(False, description="Wrap each task so a failure is logged and the rest still run."),
) -> dict[str, object]:
    for i, name in enumerate(("reserve stock", "charge card", "email receipt"), start=1):
        task = _step(name, fail=i == fail_at)
        background_tasks.add_task(_guarded(task) if guard else task)
    return {"queued": 3, "fail_at": fail_at, "guard": guard}


# -- CPU-heavy work in a task -----------------------------------------------------------
def _crunch(seconds: float) -> int:
    """Pure-Python arithmetic for ``seconds``: it never waits, so it never yields."""
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        n += sum(i * i for i in range(1000))
    return n


async def _crunch_on_loop(seconds: float) -> None:
    outbox.write("crunch on the loop: started")
    _crunch(seconds)
    outbox.write("crunch on the loop: done")


def _crunch_in_thread(seconds: float) -> None:
    outbox.write("crunch in a thread: started")
    _crunch(seconds)
    outbox.write("crunch in a thread: done")


@router.post("/ch03/crunch")
async def crunch(
    background_tasks: BackgroundTasks,
    seconds: float = Query(1.0, ge=0.0, le=5.0),
    where: Literal["loop", "thread"] = "loop",
) -> dict[str, object]:
    """CPU-bound work as a background task: an async one freezes the loop, a sync one shares the GIL."""
    background_tasks.add_task(_crunch_on_loop if where == "loop" else _crunch_in_thread, seconds)
    return {"crunching": seconds, "where": where}
