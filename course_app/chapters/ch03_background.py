"""Chapter 03 demos: BackgroundTasks run after the response, in order, and you can watch them.

Every task writes to an in-memory *outbox* that anyone can read over HTTP:

* ``GET /outbox`` -- what the tasks did, oldest first, each entry with its time since the reset.
* ``DELETE /outbox`` -- empty it and restart its clock.

The outbox belongs to the router's own lifespan (``APIRouter(lifespan=...)``): each
app that includes the router gets a fresh one when it starts, and two apps in one
process never share it. Handlers reach it through ``request.state``; tasks get it
as an argument. It is bounded twice: 1,000 entries and 256 KiB of text, oldest
dropped first, and one entry keeps at most 2,000 characters.

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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Query, Request, Response

__all__ = ["Outbox", "router"]

log = logging.getLogger(__name__)

PROCESS_SECONDS = 1.0
NOTIFY_SECONDS = 0.5
WELCOME_SECONDS = 0.5
STEP_SECONDS = 0.2


class Outbox:
    """A bounded, thread-safe log of side effects: sync tasks write from worker threads.

    Bounded in entries (``maxlen``) and in bytes of event text (``max_bytes``);
    the oldest entries go first, and an event longer than ``max_event`` characters
    is cut, saying how much was left out.
    """

    def __init__(self, maxlen: int = 1000, max_bytes: int = 256 * 1024, max_event: int = 2000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque()
        self._maxlen = maxlen
        self._max_bytes = max_bytes
        self._max_event = max_event
        self._bytes = 0
        self._start = time.monotonic()
        self._seq = 0

    @property
    def size(self) -> int:
        """Bytes of event text held now (UTF-8)."""
        return self._bytes

    def write(self, event: str) -> None:
        if len(event) > self._max_event:
            event = f"{event[: self._max_event]}... ({len(event) - self._max_event} more characters)"
        cost = len(event.encode("utf-8", "replace"))
        with self._lock:
            self._seq += 1
            self._entries.append({
                "seq": self._seq,
                "t": round(time.monotonic() - self._start, 3),
                "event": event,
                "thread": threading.current_thread().name,
                "_bytes": cost,
            })
            self._bytes += cost
            while len(self._entries) > self._maxlen or self._bytes > self._max_bytes:
                self._bytes -= self._entries.popleft()["_bytes"]

    def read(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{key: value for key, value in entry.items() if key != "_bytes"} for entry in self._entries]

    def reset(self) -> int:
        with self._lock:
            cleared = len(self._entries)
            self._entries.clear()
            self._bytes = 0
            self._start = time.monotonic()
            return cleared


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """This router's state: one outbox per running app, gone when the app stops."""
    yield {"outbox": Outbox()}


router = APIRouter(tags=["ch03 background tasks"], lifespan=_lifespan)


def _outbox(request: Request) -> Outbox:
    box = getattr(request.state, "outbox", None)
    if not isinstance(box, Outbox):
        raise RuntimeError(
            "The ch03 outbox is created by the router's lifespan, which has not run: "
            "serve the app with its lifespan on (uvicorn does by default; use TestClient as a context manager)."
        )
    return box


OutboxDep = Annotated[Outbox, Depends(_outbox)]


@router.get("/outbox")
async def read_outbox(outbox: OutboxDep) -> dict[str, list[dict[str, Any]]]:
    """Side effects of background tasks, oldest first; ``t`` is seconds since the last reset."""
    return {"entries": outbox.read()}


@router.delete("/outbox")
async def reset_outbox(outbox: OutboxDep) -> dict[str, int]:
    """Empty the outbox and restart its clock at 0."""
    return {"cleared": outbox.reset()}


# -- the classic routes ---------------------------------------------------------------
def write_log(outbox: Outbox, message: str) -> None:
    """Sync task: slow I/O, so it runs in the threadpool."""
    time.sleep(PROCESS_SECONDS)
    outbox.write(f"log: {message}")


@router.post("/process/")
async def process_data(data: dict[str, Any], background_tasks: BackgroundTasks, outbox: OutboxDep) -> dict[str, str]:
    background_tasks.add_task(write_log, outbox, f"processed {data}")
    return {"status": "accepted"}


async def notify_user(outbox: Outbox, user_id: int, message: str) -> None:
    """Async task: awaits, so it runs on the event loop."""
    await asyncio.sleep(NOTIFY_SECONDS)
    outbox.write(f"notify {user_id}: {message}")


@router.post("/notify/{user_id}")
async def notify(user_id: int, background_tasks: BackgroundTasks, outbox: OutboxDep) -> dict[str, str]:
    background_tasks.add_task(notify_user, outbox, user_id, "you have a notification")
    return {"detail": "notification queued"}


async def send_welcome_email(outbox: Outbox, email: str) -> None:
    await asyncio.sleep(WELCOME_SECONDS)
    outbox.write(f"welcome email to {email}")


@router.post("/signup")
async def signup(email: str, background_tasks: BackgroundTasks, outbox: OutboxDep) -> dict[str, str]:
    background_tasks.add_task(send_welcome_email, outbox, email)
    return {"message": "Welcome!"}


def save_to_database(outbox: Outbox, order_id: str) -> None:
    time.sleep(STEP_SECONDS)
    outbox.write(f"order {order_id}: saved to database")


async def notify_kitchen(outbox: Outbox, order_id: str) -> None:
    await asyncio.sleep(STEP_SECONDS)
    outbox.write(f"order {order_id}: kitchen notified")


def send_receipt(outbox: Outbox, order_id: str) -> None:
    time.sleep(STEP_SECONDS)
    outbox.write(f"order {order_id}: receipt sent")


@router.post("/order")
async def create_order(order_id: str, background_tasks: BackgroundTasks, outbox: OutboxDep) -> dict[str, str]:
    """Three tasks, run one after another in the order they were added (sync, async, sync)."""
    background_tasks.add_task(save_to_database, outbox, order_id)
    background_tasks.add_task(notify_kitchen, outbox, order_id)
    background_tasks.add_task(send_receipt, outbox, order_id)
    return {"order_id": order_id}


# -- a task that raises -----------------------------------------------------------------
def _step(outbox: Outbox, name: str, fail: bool) -> Callable[[], None]:
    def run() -> None:
        outbox.write(f"chain: {name} started")
        if fail:
            raise RuntimeError(f"{name} failed (on purpose, for the demo)")
        outbox.write(f"chain: {name} done")

    run.__name__ = name
    return run


def _guarded(outbox: Outbox, task: Callable[[], None]) -> Callable[[], Awaitable[None]]:
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
    response: Response,
    outbox: OutboxDep,
    fail_at: int = Query(0, ge=0, le=3, description="Which of the 3 tasks raises (1-3); 0 for none."),
    guard: bool = Query(False, description="Wrap each task so a failure is logged and the rest still run."),
) -> dict[str, object]:
    for i, name in enumerate(("reserve stock", "charge card", "email receipt"), start=1):
        task = _step(outbox, name, fail=i == fail_at)
        background_tasks.add_task(_guarded(outbox, task) if guard else task)
    if fail_at and not guard:
        # The task's exception reaches uvicorn after the response was sent, and uvicorn
        # then drops the connection. Say so now, or a keep-alive client reuses it for its
        # next request and gets "Server disconnected without sending a response".
        response.headers["Connection"] = "close"
    return {"queued": 3, "fail_at": fail_at, "guard": guard}


# -- CPU-heavy work in a task -----------------------------------------------------------
def _crunch(seconds: float) -> int:
    """Pure-Python arithmetic for ``seconds``: it never waits, so it never yields."""
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        n += sum(i * i for i in range(1000))
    return n


async def _crunch_on_loop(outbox: Outbox, seconds: float) -> None:
    outbox.write("crunch on the loop: started")
    _crunch(seconds)
    outbox.write("crunch on the loop: done")


def _crunch_in_thread(outbox: Outbox, seconds: float) -> None:
    outbox.write("crunch in a thread: started")
    _crunch(seconds)
    outbox.write("crunch in a thread: done")


@router.post("/ch03/crunch")
async def crunch(
    background_tasks: BackgroundTasks,
    outbox: OutboxDep,
    seconds: float = Query(1.0, ge=0.0, le=5.0),
    where: Literal["loop", "thread"] = "loop",
) -> dict[str, object]:
    """CPU-bound work as a background task: an async one freezes the loop, a sync one shares the GIL."""
    background_tasks.add_task(_crunch_on_loop if where == "loop" else _crunch_in_thread, outbox, seconds)
    return {"crunching": seconds, "where": where}
