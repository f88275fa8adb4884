"""Check for ch01_bounded: at most ``limit`` in flight, ``limit`` kept busy, no leaked slots.

The fake ``fetch`` does not sleep: each call waits until the check finishes it,
in a random order, so fetches take uneven times. After every finish the check
lets the event loop run a little and counts the calls in flight. A correct
solution is back at ``limit`` (or at what is left) within a few turns of the
loop, whatever the machine's load; fixed batches of ``limit`` are not, because
a batch waits for its slowest member. Some calls raise, to prove a failed
fetch gives its slot back and its exception takes its item's place.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, cast

from course_app.grading.checker import T
from course_app.grading.checks._inputs import AWKWARD_WORDS, seeded

TURNS = 30  # loop turns a correct solution gets to refill a slot (it needs two or three)
GRACE = 0.5  # ... and then this long, for a machine that is very busy


class FetchError(Exception):
    """What the fake raises for an item that is meant to fail."""


@dataclass
class _Call:
    number: int
    item: str
    done: asyncio.Future[None]


@dataclass
class ControlledFetch:
    """An async fetch whose calls finish when the check says so; counts calls in flight."""

    fail_calls: set[int] = field(default_factory=set)  # which calls (by number) raise
    calls: list[str] = field(default_factory=list)
    running: dict[int, _Call] = field(default_factory=dict)
    errors: dict[int, FetchError] = field(default_factory=dict)
    max_in_flight: int = 0

    async def fetch(self, item: str) -> str:
        call = _Call(len(self.calls), item, asyncio.get_running_loop().create_future())
        self.calls.append(item)
        self.running[call.number] = call
        self.max_in_flight = max(self.max_in_flight, len(self.running))
        try:
            await call.done
        finally:
            self.running.pop(call.number, None)
        if call.number in self.errors:
            raise self.errors[call.number]
        return answer(item)

    def finish(self, call: _Call) -> bool:
        """Let one call end; True when it raises."""
        fails = call.number in self.fail_calls
        if fails:
            self.errors[call.number] = FetchError(f"{call.item!r} is out of stock")
        if not call.done.done():
            call.done.set_result(None)
        return fails


def answer(item: str) -> str:
    return item[::-1].upper()


@dataclass
class Run:
    """What one call of fetch_bounded did."""

    items: list[str]
    limit: int
    fake: ControlledFetch
    result: Any = None
    raised: BaseException | None = None
    finished: bool = False
    too_many: str | None = None  # first time more than `limit` ran at once
    idle: str | None = None  # first time a slot stayed empty while work remained
    leaked: str | None = None  # first time a failed call's slot was not given back


async def _settle(fake: ControlledFetch, want: int, task: asyncio.Future[Any]) -> None:
    """Let the loop run until ``want`` calls are in flight (or clearly will not be)."""
    for turn in range(TURNS * 4):
        await asyncio.sleep(0)
        if turn >= TURNS and len(fake.running) >= want:
            return
    deadline = asyncio.get_running_loop().time() + GRACE
    while len(fake.running) < want and not task.done() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.005)


async def drive(fetch_bounded: Callable[..., Any], t: T, items: list[str], limit: int,
                fake: ControlledFetch, rng: random.Random, *, strict: bool = True) -> Run:
    """Run fetch_bounded(fetch, items, limit), finishing calls one at a time in a random order.

    ``strict``: stop at the first slot left idle (or leaked); otherwise only see it through.
    """
    run = Run(items, limit, fake)
    pending = fetch_bounded(fake.fetch, list(items), limit)
    if not inspect.isawaitable(pending):
        t.fail(f"fetch_bounded returned {type(pending).__name__} right away. Define it with `async def`.")
    task = asyncio.ensure_future(cast(Any, pending))
    finished = 0
    try:
        await _settle(fake, min(limit, len(items)) if strict else 1, task)
        if strict and len(fake.running) < min(limit, len(items)) and not task.done():
            run.idle = (f"at the start only {len(fake.running)} of {limit} slots were in use, "
                        f"with {len(items)} items to fetch")
            return run
        while fake.running:
            if len(fake.running) > limit and run.too_many is None:
                run.too_many = f"{len(fake.running)} fetches in flight at once with limit {limit}"
                break
            call = fake.running[rng.choice(sorted(fake.running))]
            failed = fake.finish(call)
            finished += 1
            want = min(limit, len(items) - finished)
            await _settle(fake, want if strict else min(want, 1), task)
            if strict and len(fake.running) < want and not task.done():
                waiting = len(items) - finished - len(fake.running)
                if failed:
                    run.leaked = (f"after fetch({_show(call.item)}) raised, its slot was not given back: "
                                  f"{len(fake.running)} of {limit} slots in use while {waiting} items waited")
                else:
                    run.idle = (f"after fetch({_show(call.item)}) finished, only {len(fake.running)} of {limit} "
                                f"slots were in use while {waiting} items waited to start")
                break
        if run.too_many is None and fake.max_in_flight > limit:
            run.too_many = f"{fake.max_in_flight} fetches in flight at once with limit {limit}"
        if run.idle or run.leaked or run.too_many:
            return run
        done, _ = await asyncio.wait({task}, timeout=2.0)
        if done:
            run.finished = True
            try:
                run.result = task.result()
            except Exception as err:  # the learner's function raised
                run.raised = err
        return run
    finally:
        for call in list(fake.running.values()):
            if not call.done.done():
                call.done.set_result(None)
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, BaseException):
        return f"{type(value).__name__}({str(value)!r})"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _items(rng: random.Random, count: int, *, repeat: bool = True) -> list[str]:
    items = [f"item {n}" for n in range(count - 3)]
    items += [rng.choice([w for w in AWKWARD_WORDS if w]), ""]
    items.append(rng.choice(items) if repeat else f"item {count}")
    rng.shuffle(items)
    return items


def _function(learner: ModuleType, t: T) -> Callable[..., Any]:
    fn = getattr(learner, "fetch_bounded", None)
    if not callable(fn):
        t.fail("Your file has no fetch_bounded function. Keep the `async def fetch_bounded(fetch, items, limit)` "
               "line from the original file (`course reset ch01_bounded` restores it).")
    return cast(Callable[..., Any], fn)


def _expect_results(t: T, run: Run) -> None:
    if run.raised is not None:
        t.fail(f"fetch_bounded raised {_show(run.raised)}, so the whole batch was lost. Expected: the exception "
               "object in that item's place in the list, and the other results as usual.")
    t.expect(run.finished, expected="fetch_bounded returns once every fetch has finished",
             got="it was still waiting 2 s after the last fetch finished")
    fake = run.fake
    first_call: dict[str, int] = {}  # item -> the number of the call that fetched it (items that can fail are never repeated)
    for number, item in enumerate(fake.calls):
        first_call.setdefault(item, number)
    wanted: list[Any] = []
    for item in run.items:
        error = fake.errors.get(first_call.get(item, -1))
        wanted.append(error if error is not None else answer(item))
    ok = isinstance(run.result, (list, tuple)) and len(run.result) == len(wanted) and all(
        got is want if isinstance(want, FetchError) else got == want for got, want in zip(run.result, wanted)
    )
    what = "one result per item, in the order of the items"
    if fake.errors:
        what += ", with the FetchError object itself in the place of each item that failed"
    t.expect(ok, expected=f"{what}: {_show(wanted)}", got=_show(run.result), message=f"items were {_show(run.items)}")
    t.expect(sorted(fake.calls) == sorted(run.items), expected=f"fetch called once per item: {_show(run.items)}",
             got=f"fetch called with {_show(fake.calls)}")


async def check(learner: ModuleType, t: T) -> None:
    fetch_bounded = _function(learner, t)

    with seeded(t) as rng:
        with t.step("returns one result per item, in the order of the items"):
            items = _items(rng, rng.randint(4, 6))
            run = await drive(fetch_bounded, t, items, len(items) + rng.randint(0, 3), ControlledFetch(), rng, strict=False)
            _expect_results(t, run)

        limit = rng.randint(2, 5)
        items = _items(rng, rng.randint(3 * limit + 2, 5 * limit))
        busy = await drive(fetch_bounded, t, items, limit, ControlledFetch(), rng)
        with t.step("never more than `limit` fetches at once"):
            t.expect(busy.too_many is None, expected=f"at most {limit} fetches in flight at once ({len(items)} items)",
                     got=busy.too_many)

        with t.step("keeps `limit` fetches busy while work remains, not fewer, even when they take uneven times"):
            t.expect(busy.idle is None and busy.leaked is None,
                     expected=f"a new fetch starts as soon as one of the {limit} finishes, until no item is left "
                              "(fixed batches wait for their slowest fetch)",
                     got=busy.idle or busy.leaked)
            _expect_results(t, busy)

        with t.step("a fetch that raises gives its slot back, and its exception takes its place (several fail)"):
            limit = rng.randint(2, 4)
            items = _items(rng, rng.randint(3 * limit, 4 * limit), repeat=False)
            # The first `limit` calls fail (a leaked slot each would leave none), and a few more later on.
            failing = set(range(limit)) | set(rng.sample(range(limit, len(items)), 2))
            run = await drive(fetch_bounded, t, items, limit, ControlledFetch(failing), rng)
            t.expect(run.leaked is None, expected="every slot given back, also by fetches that raised", got=run.leaked)
            t.expect(run.too_many is None and run.idle is None, expected=f"still {limit} fetches at once while work remains",
                     got=run.too_many or run.idle)
            _expect_results(t, run)
