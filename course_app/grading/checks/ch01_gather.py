"""Check for ch01_gather: every fetch runs at the same time, results come back in input order.

The learner's ``fetch_all`` gets an instrumented fake ``fetch``: it sleeps a
chosen time per item and counts how many calls are in flight at once, so the
check proves concurrency with a counter, not only with the clock.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, cast

from course_app.grading.checker import T


class FakeFetch:
    """An async fetch that sleeps ``delays[item]`` and records what ran at the same time."""

    def __init__(self, delays: dict[str, float]) -> None:
        self.delays = delays
        self.calls: list[str] = []
        self.finished: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def fetch(self, item: str) -> str:
        self.calls.append(item)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delays.get(item, 0.05))
        finally:
            self.in_flight -= 1
        self.finished.append(item)
        return item.upper()


def _fetch_all(learner: ModuleType, t: T) -> Callable[..., Any]:
    fn = getattr(learner, "fetch_all", None)
    if not callable(fn):
        t.fail("Your file has no fetch_all function. Keep the `async def fetch_all(fetch, items)` line "
               "from the original file (`course reset ch01_gather` restores it).")
    return cast(Callable[..., Any], fn)


async def _call(t: T, fetch_all: Callable[..., Any], fake: FakeFetch, items: list[str]) -> Any:
    pending = fetch_all(fake.fetch, items)
    if not inspect.isawaitable(pending):
        t.fail(f"fetch_all(fetch, {items}) returned {type(pending).__name__} right away. "
               "Define it with `async def` so the caller can await it.")
    awaitable: Awaitable[Any] = pending
    return await t.within(5, awaitable, f"fetch_all(fetch, {items})")


def _expect_results(t: T, got: Any, items: list[str], what: str) -> None:
    if isinstance(got, (list, tuple)) and any(inspect.isawaitable(x) for x in got):
        for x in got:
            if inspect.iscoroutine(x):
                x.close()
        t.fail("The list holds coroutines or tasks, not their results. "
               "Calling fetch(item) only creates a coroutine, and a task only starts the work: "
               "await them to get the values.")
    t.expect(isinstance(got, (list, tuple)) and list(got) == [item.upper() for item in items],
             expected=what, got=got)


async def check(learner: ModuleType, t: T) -> None:
    fetch_all = _fetch_all(learner, t)

    with t.step("returns one result per item, in the order of the items"):
        items = ["tea", "coffee", "juice"]
        fake = FakeFetch({"tea": 0.02, "coffee": 0.04, "juice": 0.06})
        got = await _call(t, fetch_all, fake, items)
        _expect_results(t, got, items, "one result per item, in the order of the items: " + str([i.upper() for i in items]))
        t.expect(sorted(fake.calls) == sorted(items), expected=f"fetch called once for each of {items}", got=fake.calls)

    with t.step("starts every fetch before waiting for any: 5 in flight at once"):
        items = ["a", "b", "c", "d", "e"]
        delay = 0.4
        fake = FakeFetch(dict.fromkeys(items, delay))
        started = t.clock()
        got = await _call(t, fetch_all, fake, items)
        elapsed = t.clock() - started
        t.expect(isinstance(got, (list, tuple)) and sorted(map(str, got)) == sorted(i.upper() for i in items),
                 expected="one result per item", got=got)
        t.expect(fake.max_in_flight == len(items),
                 expected=f"all {len(items)} fetches in flight at the same moment",
                 got=f"at most {fake.max_in_flight} at a time")
        one_by_one = delay * len(items)
        t.expect(elapsed < one_by_one / 2,
                 expected=f"about {delay:g} s in total (one at a time takes {one_by_one:g} s)",
                 got=f"{elapsed:.2f} s")

    with t.step("keeps the input order when later items finish first"):
        items = ["slow", "medium", "quick", "instant"]
        fake = FakeFetch({"slow": 0.4, "medium": 0.3, "quick": 0.2, "instant": 0.1})
        got = await _call(t, fetch_all, fake, items)
        _expect_results(t, got, items, "results in the order of the items, not the order they finished: "
                        + str([i.upper() for i in items]))

    with t.step("an empty list gives an empty list"):
        got = await _call(t, fetch_all, FakeFetch({}), [])
        t.expect(isinstance(got, (list, tuple)) and list(got) == [], expected="[]", got=got)
