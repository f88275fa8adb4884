"""Check for ch01_timeout: a deadline that really cancels, never blocks, and lets the caller cancel.

The fake ``fetch`` records whether it saw ``CancelledError`` and whether it is
still running. A ticker task measures the event loop's lag while the
learner's code waits, so a ``time.sleep`` loop is named as such.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any, cast

from course_app.grading.checker import T


DEFAULT = "(no answer)"
TICK = 0.01
MAX_LAG = 0.5  # a free loop lags a few ms; a blocked one lags for the whole wait (1 s here)


class FakeFetch:
    """Answers after ``delay`` seconds; records cancellation and whether it is still running."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started = asyncio.Event()
        self.running = False
        self.saw_cancel = False

    async def fetch(self, item: str) -> str:
        self.running = True
        self.started.set()
        try:
            await asyncio.sleep(self.delay)
            return f"{item} is ready"
        except asyncio.CancelledError:
            self.saw_cancel = True
            raise
        finally:
            self.running = False


class LoopWatch:
    """The longest time the event loop could not run a 10 ms ticker."""

    def __init__(self) -> None:
        self.max_lag = 0.0

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(TICK)
            self.max_lag = max(self.max_lag, loop.time() - before - TICK)


@asynccontextmanager
async def watch_loop() -> AsyncIterator[LoopWatch]:
    watch = LoopWatch()
    ticker = asyncio.create_task(watch._tick())
    await asyncio.sleep(TICK * 2)  # the ticker is now waiting on its first tick
    try:
        yield watch
        await asyncio.sleep(TICK * 2)  # let a late tick land and be measured
    finally:
        ticker.cancel()
        await asyncio.wait({ticker})


def _function(learner: ModuleType, t: T) -> Callable[..., Any]:
    fn = getattr(learner, "fetch_with_timeout", None)
    if not callable(fn):
        t.fail("Your file has no fetch_with_timeout function. Keep the "
               "`async def fetch_with_timeout(fetch, item, seconds, default)` line from the original file "
               "(`course reset ch01_timeout` restores it).")
    return cast(Callable[..., Any], fn)


def _start(t: T, fn: Callable[..., Any], fake: FakeFetch, seconds: float) -> "asyncio.Future[Any]":
    pending = fn(fake.fetch, "soup", seconds, DEFAULT)
    if not inspect.isawaitable(pending):
        t.fail(f"fetch_with_timeout returned {type(pending).__name__} right away. Define it with `async def`.")
    awaitable: Awaitable[Any] = pending
    return asyncio.ensure_future(awaitable)


def _expect_free_loop(t: T, watch: LoopWatch) -> None:
    t.expect(watch.max_lag < MAX_LAG,
             expected=f"the event loop stays free while you wait (lag under {MAX_LAG:g} s)",
             got=f"your code blocked the event loop for {watch.max_lag:.2f} s. "
                 "time.sleep() or a busy loop stops every other task, including the fetch itself; await instead.")


async def check(learner: ModuleType, t: T) -> None:
    fetch_with_timeout = _function(learner, t)

    with t.step("a fast answer (0.05 s, limit 1 s) comes back as is, and the event loop stays free"):
        fake = FakeFetch(0.05)
        async with watch_loop() as watch:
            got = await t.within(5, _start(t, fetch_with_timeout, fake, 1.0), "fetch_with_timeout(fetch, 'soup', 1.0, default)")
        _expect_free_loop(t, watch)
        t.expect(got == "soup is ready", expected="the fetch's own answer: 'soup is ready'", got=got)

    slow = FakeFetch(60.0)
    with t.step("a slow answer gives `default` after about `seconds` (limit 0.3 s)"):
        seconds = 0.3
        async with watch_loop() as watch:
            started = t.clock()
            task = _start(t, fetch_with_timeout, slow, seconds)
            done, _ = await asyncio.wait({task}, timeout=3.0)
            elapsed = t.clock() - started
        _expect_free_loop(t, watch)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
            t.fail(f"fetch_with_timeout was still waiting after 3 s; expected it to give up after about {seconds:g} s.")
        got = task.result()
        t.expect(got == DEFAULT, expected=f"the default, {DEFAULT!r}", got=got)
        t.expect(seconds * 0.8 <= elapsed <= seconds * 5,
                 expected=f"about {seconds:g} s (the limit), not much sooner or later", got=f"{elapsed:.2f} s")

    with t.step("the slow fetch is cancelled: it saw CancelledError and stopped"):
        await asyncio.sleep(0.05)  # a moment for a cancel that was requested but not yet delivered
        t.expect(not slow.running and slow.saw_cancel,
                 expected="the fetch cancelled by the time fetch_with_timeout returns",
                 got="the slow fetch is still running: giving up on a result does not stop the work. "
                     "A call that keeps running keeps its connection and memory too."
                 if slow.running else "the fetch stopped without ever seeing CancelledError")

    with t.step("when the caller cancels fetch_with_timeout, the cancellation goes through"):
        fake = FakeFetch(60.0)
        task = _start(t, fetch_with_timeout, fake, 5.0)
        await t.within(2, fake.started.wait(), "waiting for fetch_with_timeout to call fetch")
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2.0)
        t.expect(bool(done), expected="it stops within 2 s of being cancelled", got="it was still running after 2 s")
        if not task.cancelled():
            what = repr(task.result()) if task.exception() is None else repr(task.exception())
            t.fail(f"the caller cancelled it, but it finished with {what} instead of being cancelled. "
                   "Something caught CancelledError and carried on: catch only TimeoutError, "
                   "and let CancelledError travel up (clean up in `finally` if you must).")
        t.expect(fake.saw_cancel and not fake.running, expected="the fetch inside was cancelled too",
                 got="the fetch is still running: a task you start yourself is not cancelled with you, "
                     "unless you cancel it too" if fake.running else "the fetch never saw CancelledError")
