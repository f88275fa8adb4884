"""Check for ch01_gather: every fetch runs at the same time, results come back in input order.

The learner's ``fetch_all`` gets an instrumented fake ``fetch``: it sleeps a
chosen time per call and counts how many calls are in flight at once, so the
check proves concurrency with a counter, not only with the clock. The items
change on every run: more of them than any plausible cap, repeats, the empty
string, spaces and non-ASCII text, in an order where later items finish first.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, cast

from course_app.grading.checker import CheckFailed, T
from course_app.grading.checks._inputs import AWKWARD_WORDS, seeded

DEADLINE = 5.0


def answer(item: str) -> str:
    """What the fake fetch returns for ``item``: different for every item, and "" for "" (a falsy result)."""
    return item[::-1].upper()


class FakeFetch:
    """An async fetch that sleeps ``delay(item)`` and records what ran at the same time."""

    def __init__(self, delay: Callable[[int, str], float]) -> None:
        self.delay = delay
        self.calls: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def fetch(self, item: str) -> str:
        number = len(self.calls)
        self.calls.append(item)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay(number, item))
        finally:
            self.in_flight -= 1
        return answer(item)


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _fetch_all(learner: ModuleType, t: T) -> Callable[..., Any]:
    fn = getattr(learner, "fetch_all", None)
    if not callable(fn):
        t.fail("Your file has no fetch_all function. Keep the `async def fetch_all(fetch, items)` line "
               "from the original file (`course reset ch01_gather` restores it).")
    return cast(Callable[..., Any], fn)


async def _call(t: T, fetch_all: Callable[..., Any], fake: FakeFetch, items: list[str]) -> Any:
    what = f"fetch_all(fetch, {len(items)} items)"
    pending = fetch_all(fake.fetch, list(items))
    if not inspect.isawaitable(pending):
        t.fail(f"{what} returned {type(pending).__name__} right away. "
               "Define it with `async def` so the caller can await it.")
    try:
        return await t.within(DEADLINE, cast(Awaitable[Any], pending), what)
    except CheckFailed as err:
        raise CheckFailed(f"{err}\nAt most {fake.max_in_flight} fetches were in flight at the same time.") from None


def _expect_results(t: T, got: Any, items: list[str], fake: FakeFetch) -> None:
    if isinstance(got, (list, tuple)) and any(inspect.isawaitable(x) for x in got):
        for x in got:
            if inspect.iscoroutine(x):
                x.close()
        t.fail("The list holds coroutines or tasks, not their results. "
               "Calling fetch(item) only creates a coroutine, and a task only starts the work: "
               "await them to get the values.")
    wanted = [answer(item) for item in items]
    t.expect(isinstance(got, (list, tuple)) and list(got) == wanted,
             expected=f"{len(items)} results, one per item, in the order of the items: {_show(wanted)}",
             got=_show(got) if isinstance(got, (list, tuple)) else f"{type(got).__name__}: {got!r}",
             message=f"items were {_show(items)}")
    t.expect(Counter(fake.calls) == Counter(items),
             expected=f"fetch called once per item (repeated items once per repeat): {_show(items)}",
             got=f"fetch called with {_show(fake.calls)}")


def _awkward_items(rng: random.Random, count: int) -> list[str]:
    """``count`` items: plain words, awkward words (with "" and a repeat for sure), shuffled."""
    items = [f"item {n}" for n in range(count - 4)]
    items += ["", rng.choice([w for w in AWKWARD_WORDS if w]), rng.choice([w for w in AWKWARD_WORDS if w])]
    items.append(rng.choice(items))  # a repeat
    rng.shuffle(items)
    return items


async def check(learner: ModuleType, t: T) -> None:
    fetch_all = _fetch_all(learner, t)

    with seeded(t) as rng:
        with t.step("returns one result per item, in the order of the items"):
            items = rng.sample(["tea", "coffee", "juice", "cocoa", "mate"], 3)
            fake = FakeFetch(lambda number, item: 0.02 * (1 + number))
            got = await _call(t, fetch_all, fake, items)
            _expect_results(t, got, items, fake)

        with t.step("starts every fetch before waiting for any: all in flight at once (more items than any cap)"):
            items = _awkward_items(rng, rng.randint(24, 40))
            fake = FakeFetch(lambda number, item: rng.uniform(0.05, 0.15))
            got = await _call(t, fetch_all, fake, items)
            _expect_results(t, got, items, fake)
            t.expect(fake.max_in_flight == len(items),
                     expected=f"all {len(items)} fetches in flight at the same moment",
                     got=f"at most {fake.max_in_flight} at a time")

        with t.step("keeps the input order when later items finish first (repeats, empty and non-ASCII items too)"):
            items = _awkward_items(rng, rng.randint(8, 12))
            fake = FakeFetch(lambda number, item: 0.03 * (len(items) - number))  # the first one called finishes last
            got = await _call(t, fetch_all, fake, items)
            _expect_results(t, got, items, fake)

        with t.step("an empty list gives an empty list"):
            got = await _call(t, fetch_all, FakeFetch(lambda number, item: 0.0), [])
            t.expect(isinstance(got, (list, tuple)) and list(got) == [], expected="[]", got=_show(got))
