"""Check for ch01_bounded: at most ``limit`` in flight, ``limit`` actually reached, no leaked slots.

The fake ``fetch`` counts calls in flight. Some items raise, to prove a failed
fetch gives its slot back: if it does not, the remaining items wait forever,
and the check says so after a short deadline instead of hanging.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any, cast

from course_app.grading.checker import T


HANG_DEADLINE = 3.0


class FetchError(Exception):
    """What the fake raises for an item that is meant to fail."""


class FakeFetch:
    """Sleeps per item, fails some items on purpose, and counts calls in flight."""

    def __init__(self, delay: float, failing: frozenset[str] = frozenset()) -> None:
        self.delay = delay
        self.failing = failing
        self.in_flight = 0
        self.max_in_flight = 0
        self.finished: list[str] = []

    async def fetch(self, item: str) -> str:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if item in self.failing:
                raise FetchError(f"{item} is out of stock")
            return item.upper()
        finally:
            self.in_flight -= 1
            self.finished.append(item)


def _function(learner: ModuleType, t: T) -> Callable[..., Any]:
    fn = getattr(learner, "fetch_bounded", None)
    if not callable(fn):
        t.fail("Your file has no fetch_bounded function. Keep the `async def fetch_bounded(fetch, items, limit)` "
               "line from the original file (`course reset ch01_bounded` restores it).")
    return cast(Callable[..., Any], fn)


def _awaitable(t: T, pending: Any) -> Any:
    if not inspect.isawaitable(pending):
        t.fail(f"fetch_bounded returned {type(pending).__name__} right away. Define it with `async def`.")
    return pending


def _expect_plain_results(t: T, got: Any, items: list[str]) -> None:
    t.expect(isinstance(got, (list, tuple)) and list(got) == [i.upper() for i in items],
             expected="one result per item, in the order of the items: " + str([i.upper() for i in items]),
             got=got if isinstance(got, (list, tuple)) else repr(got))


async def check(learner: ModuleType, t: T) -> None:
    fetch_bounded = _function(learner, t)

    with t.step("returns one result per item, in the order of the items"):
        items = ["tea", "coffee", "juice", "water"]
        fake = FakeFetch(0.02)
        got = await t.within(5, _awaitable(t, fetch_bounded(fake.fetch, items, 4)), f"fetch_bounded(fetch, {items}, 4)")
        _expect_plain_results(t, got, items)

    items = [f"item{i}" for i in range(9)]
    limit = 3
    busy = FakeFetch(0.15)
    with t.step("never more than `limit` fetches at once (9 items, limit 3)"):
        got = await t.within(5, _awaitable(t, fetch_bounded(busy.fetch, items, limit)), "fetch_bounded(fetch, 9 items, 3)")
        _expect_plain_results(t, got, items)
        t.expect(busy.max_in_flight <= limit, expected=f"at most {limit} fetches in flight at once",
                 got=f"{busy.max_in_flight} at once")

    with t.step("keeps `limit` fetches busy, not fewer (3 at once)"):
        t.expect(busy.max_in_flight == limit,
                 expected=f"{limit} fetches in flight at once while work remains",
                 got=f"at most {busy.max_in_flight} at a time")

    with t.step("a fetch that raises gives its slot back: the other items still finish (limit 2, 2 of 8 fail)"):
        items = [f"item{i}" for i in range(8)]
        failing = frozenset({"item0", "item1"})
        fake = FakeFetch(0.05, failing)
        task = asyncio.ensure_future(_awaitable(t, fetch_bounded(fake.fetch, items, 2)))
        done, _ = await asyncio.wait({task}, timeout=HANG_DEADLINE)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
            t.fail(f"fetch_bounded was still waiting after {HANG_DEADLINE:g} s, with {len(fake.finished)} of "
                   f"{len(items)} items done. It looks like the {len(failing)} fetches that raised kept their slots, "
                   "so no other item could start. A slot must be given back whatever happens to the fetch.")
        try:
            got = task.result()
        except FetchError as err:
            t.fail(f"fetch_bounded raised FetchError ({err}), so the whole batch was lost. "
                   "Expected: the exception object in that item's place in the list, and the other results as usual.")
        t.expect(fake.max_in_flight <= 2, expected="still at most 2 fetches in flight at once",
                 got=f"{fake.max_in_flight} at once (was a slot given back twice?)")
        ok = isinstance(got, (list, tuple)) and len(got) == len(items) and all(
            isinstance(value, FetchError) if item in failing else value == item.upper()
            for item, value in zip(items, got)
        )
        t.expect(ok, expected="the FetchError in the place of item0 and item1, the other six results in order",
                 got=[repr(v) if isinstance(v, BaseException) else v for v in got] if isinstance(got, (list, tuple)) else repr(got))
