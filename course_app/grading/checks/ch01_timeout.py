"""Check for ch01_timeout: a deadline that really cancels, lets errors and the caller's cancel through.

The fake ``fetch`` records whether it saw ``CancelledError`` and whether it is
still running. Several calls run at once, each with its own limit and its own
``default`` (falsy ones too), and every one of them is judged. Blocking the
event loop (``time.sleep`` in a polling loop) is caught by the check engine's
loop watchdog, which names the line.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, cast

from course_app.grading.checker import T
from course_app.grading.checks._inputs import seeded

# Values a careless `result or default` / `if result:` gets wrong, and ordinary ones.
FALSY: tuple[Any, ...] = (0, "", None, [], False, 0.0)
PLAIN: tuple[Any, ...] = ("soup is ready", 42, {"dish": "crème brûlée"}, ["tea", "toast"], "李雷's noodles")


class FetchError(Exception):
    """What the fake raises when it is meant to fail fast."""


class FakeFetch:
    """Answers ``value`` after ``delay`` seconds (or raises ``error``); records cancellation."""

    def __init__(self, delay: float, value: Any = None, error: FetchError | None = None) -> None:
        self.delay = delay
        self.value = value
        self.error = error
        self.started = asyncio.Event()
        self.running = False
        self.saw_cancel = False
        self.calls = 0

    async def fetch(self, item: str) -> Any:
        self.calls += 1
        self.running = True
        self.started.set()
        try:
            await asyncio.sleep(self.delay)
            if self.error is not None:
                raise self.error
            return self.value
        except asyncio.CancelledError:
            self.saw_cancel = True
            raise
        finally:
            self.running = False


@dataclass
class Outcome:
    fake: FakeFetch
    seconds: float
    default: Any
    value: Any = None
    error: BaseException | None = None
    elapsed: float = 0.0
    finished: bool = False


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _function(learner: ModuleType, t: T) -> Callable[..., Any]:
    fn = getattr(learner, "fetch_with_timeout", None)
    if not callable(fn):
        t.fail("Your file has no fetch_with_timeout function. Keep the "
               "`async def fetch_with_timeout(fetch, item, seconds, default)` line from the original file "
               "(`course reset ch01_timeout` restores it).")
    return cast(Callable[..., Any], fn)


def _start(t: T, fn: Callable[..., Any], fake: FakeFetch, seconds: float, default: Any) -> asyncio.Future[Any]:
    pending = fn(fake.fetch, "soup", seconds, default)
    if not inspect.isawaitable(pending):
        t.fail(f"fetch_with_timeout returned {type(pending).__name__} right away. Define it with `async def`.")
    return asyncio.ensure_future(cast(Awaitable[Any], pending))


async def _run_all(t: T, fn: Callable[..., Any], outcomes: list[Outcome], deadline: float) -> None:
    """Call fetch_with_timeout once per outcome, all at once, and record what each did."""
    loop = asyncio.get_running_loop()

    async def one(outcome: Outcome) -> None:
        started = loop.time()
        task = _start(t, fn, outcome.fake, outcome.seconds, outcome.default)
        try:
            done, _ = await asyncio.wait({task}, timeout=deadline)
            if done:
                outcome.finished = True
                try:
                    outcome.value = task.result()
                except Exception as err:  # what the learner's function raised
                    outcome.error = err
        finally:
            outcome.elapsed = loop.time() - started
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)

    await asyncio.gather(*(one(outcome) for outcome in outcomes))


async def check(learner: ModuleType, t: T) -> None:
    fetch_with_timeout = _function(learner, t)

    with seeded(t) as rng:
        with t.step("an answer that arrives in time comes back as is, falsy answers too (several calls at once)"):
            outcomes = []
            for value in [rng.choice(FALSY), rng.choice(FALSY), rng.choice(PLAIN)]:
                seconds = rng.uniform(0.5, 0.8)
                outcomes.append(Outcome(FakeFetch(seconds * rng.uniform(0.1, 0.5), value), seconds, "(no answer)"))
            await _run_all(t, fetch_with_timeout, outcomes, 3.0)
            for o in outcomes:
                t.expect(o.finished, expected=f"an answer soon after {o.fake.delay:.2f} s",
                         got="still waiting after 3 s")
                t.expect(o.error is None, expected=f"the fetch's answer, {_show(o.fake.value)}", got=repr(o.error))
                t.expect(o.value == o.fake.value and type(o.value) is type(o.fake.value),
                         expected=f"the fetch's own answer, {_show(o.fake.value)} (it came after {o.fake.delay:.2f} s, "
                                  f"within the {o.seconds:.2f} s limit)",
                         got=_show(o.value))

        slow: list[Outcome] = []
        with t.step("a slow answer gives `default` after about `seconds` (a different limit per call)"):
            limits = [0.3, 0.6, 0.9]
            rng.shuffle(limits)
            defaults = [rng.choice(FALSY), rng.choice(PLAIN), rng.choice(("(no answer)", -1, "ø"))]
            slow = [Outcome(FakeFetch(60.0, "too late"), seconds, default) for seconds, default in zip(limits, defaults)]
            await _run_all(t, fetch_with_timeout, slow, 3.0)
            for o in slow:
                t.expect(o.finished, expected=f"the default after about {o.seconds:g} s",
                         got="still waiting after 3 s: nothing stopped the wait")
                t.expect(o.error is None, expected=f"the default, {_show(o.default)}", got=repr(o.error))
                t.expect(o.value == o.default and type(o.value) is type(o.default),
                         expected=f"the default passed in, {_show(o.default)}", got=_show(o.value))
                t.expect(o.seconds * 0.8 <= o.elapsed <= o.seconds + 0.3,
                         expected=f"about {o.seconds:g} s (this call's limit), not much sooner or later",
                         got=f"{o.elapsed:.2f} s")

        with t.step("the slow fetch is cancelled: it saw CancelledError and stopped"):
            await asyncio.sleep(0.05)  # a moment for a cancel that was requested but not yet delivered
            for o in slow:
                t.expect(not o.fake.running and o.fake.saw_cancel,
                         expected="every fetch that ran out of time cancelled by the time fetch_with_timeout returns",
                         got="a slow fetch is still running: giving up on a result does not stop the work. "
                             "A call that keeps running keeps its connection and memory too."
                         if o.fake.running else "a slow fetch stopped without ever seeing CancelledError")

        with t.step("an error from fetch itself comes through unchanged (only running out of time gives `default`)"):
            error = FetchError(rng.choice(["kitchen closed", "no soup today", "oven on fire"]))
            outcomes = [Outcome(FakeFetch(0.02, error=error), 1.0, "(no answer)")]
            await _run_all(t, fetch_with_timeout, outcomes, 3.0)
            o = outcomes[0]
            t.expect(o.error is error,
                     expected=f"fetch_with_timeout raises the fetch's own error, FetchError({str(error)!r}), "
                              "so the caller can tell a failure from a slow answer",
                     got=f"it returned {_show(o.value)}" if o.error is None else f"it raised {o.error!r}")

        with t.step("when the caller cancels fetch_with_timeout, the cancellation goes through"):
            fake = FakeFetch(60.0)
            task = _start(t, fetch_with_timeout, fake, 5.0, "(no answer)")
            await t.within(2, fake.started.wait(), "waiting for fetch_with_timeout to call fetch")
            await asyncio.sleep(rng.uniform(0.01, 0.1))
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=2.0)
            t.expect(bool(done), expected="it stops within 2 s of being cancelled", got="it was still running after 2 s")
            if not task.cancelled():
                what = _show(task.result()) if task.exception() is None else repr(task.exception())
                t.fail(f"the caller cancelled it, but it finished with {what} instead of being cancelled. "
                       "Something caught CancelledError and carried on: catch only TimeoutError, "
                       "and let CancelledError travel up (clean up in `finally` if you must).")
            await asyncio.sleep(0.05)
            t.expect(fake.saw_cancel and not fake.running, expected="the fetch inside was cancelled too",
                     got="the fetch is still running: a task you start yourself is not cancelled with you, "
                         "unless you cancel it too" if fake.running else "the fetch never saw CancelledError")

