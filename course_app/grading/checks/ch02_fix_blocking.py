"""Check for ch02_fix_blocking: a blocking call inside async def, moved off the event loop.

The check swaps the learner's ``slow_lookup`` for an instrumented twin that
blocks just the same (time.sleep) but counts how many run at once. Then it fires
concurrent requests: they must overlap (a counter, not a clock), and a cheap
``GET /health`` sent while lookups run must answer at once (the loop is free).
The SKUs change on every run and every answer is compared with what the twin
returned for that SKU. Learner code that holds the server's event loop is
caught by the check engine's loop watchdog, which names the line.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import threading
import time
from types import ModuleType
from typing import Any
from urllib.parse import quote

import httpx

from course_app.grading.checker import T
from course_app.grading.checks._inputs import seeded
from course_app.grading.kit import http_client, learner_app, serve
from course_app.grading.tracing import raised_in_learner_code


LOOKUP_SECONDS = 0.5
BURST = 6
MIN_OVERLAP = 4          # the default executor has min(32, cpus + 4) >= 5 threads
HEALTH_LIMIT = 0.2       # a blocked loop makes /health wait >= ~0.45 s


class _Twin:
    """A blocking slow_lookup that counts calls and how many run at the same moment."""

    def __init__(self, rng: random.Random) -> None:
        self._lock = threading.Lock()
        self._rng = rng
        self.calls = 0
        self.now = 0
        self.most = 0
        self.answers: dict[str, dict[str, Any]] = {}

    def __call__(self, sku: str) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            self.now += 1
            self.most = max(self.most, self.now)
            answer = {"sku": sku, "in_stock": self._rng.randint(0, 9), "token": secrets.token_hex(4)}
            self.answers[sku] = answer
        try:
            time.sleep(LOOKUP_SECONDS)
            return answer
        finally:
            with self._lock:
                self.now -= 1


async def _wait_for_a_lookup(twin: _Twin, seconds: float) -> bool:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if twin.now >= 1:
            return True
        await asyncio.sleep(0.005)
    return False


def _skus(rng: random.Random, count: int) -> list[str]:
    """Distinct SKUs, some with spaces or non-ASCII letters (sent percent-encoded in the path)."""
    odd = ["crème-brûlée", "tea cup", "ÄPFEL-7", "枕头", "x"]
    skus = rng.sample(odd, 2) + [f"sku-{rng.randint(1000, 9999)}-{n}" for n in range(count - 2)]
    rng.shuffle(skus)
    return skus


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def server_error(t: T) -> str:
    """The last exception the server logged, as one line: what a 500 hides from the client.

    Empty when it was raised in the learner's file: the engine reports those with their line.
    """
    for record in reversed(t.server_log.records):
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            if raised_in_learner_code(error, t.learner_file):
                return ""
            return f"\nThe server logged {type(error).__name__}: {str(error)[:300]}"
    return ""


def _expect_answer(t: T, twin: _Twin, sku: str, response: httpx.Response) -> None:
    t.expect(response.status_code == 200, expected=f"status 200 for GET /stock/{sku}",
             got=f"status {response.status_code}: {response.text[:200]}"
                 + (server_error(t) if response.status_code >= 500 else ""))
    try:
        body = response.json()
    except ValueError:
        body = response.text
    wanted = twin.answers.get(sku)
    shown = _show(wanted) if wanted is not None else "(slow_lookup had not been called for it when the answer came)"
    t.expect(wanted is not None and body == wanted,
             expected=f"the dict slow_lookup({_show(sku)}) returned, unchanged: {shown}", got=_show(body))


async def check(learner: ModuleType, t: T) -> None:
    if not callable(getattr(learner, "slow_lookup", None)):
        t.fail("Your file has no slow_lookup(). Keep the function from the original file (`course reset ch02_fix_blocking`).")
    with seeded(t) as rng:
        twin = _Twin(rng)

        def slow_lookup(sku: str) -> dict[str, Any]:  # named like the original, for error messages
            return twin(sku)

        slow_lookup.__qualname__ = "slow_lookup"
        learner.slow_lookup = slow_lookup  # type: ignore[attr-defined]
        first, *burst_skus = _skus(rng, BURST + 1)
        async with serve(learner_app(learner)) as server, http_client(server, timeout=10) as client:
            with t.step("GET /stock/{sku} answers with what slow_lookup() returns"):
                response = await client.get(f"/stock/{quote(first, safe='')}")
                _expect_answer(t, twin, first, response)
                t.expect(twin.calls == 1, expected="the endpoint calls slow_lookup(sku) once per request",
                         got=f"slow_lookup was called {twin.calls} time(s)")

            twin.most = 0
            started = t.clock()
            burst = asyncio.gather(*(client.get(f"/stock/{quote(sku, safe='')}") for sku in burst_skus))
            health_seconds: float | None = None
            if await _wait_for_a_lookup(twin, 3.0):
                before = t.clock()
                try:
                    await client.get("/health", timeout=5)
                    health_seconds = t.clock() - before
                except httpx.HTTPError:
                    health_seconds = None
            responses = await burst
            total = t.clock() - started

            with t.step("GET /health answers at once while lookups are running (the loop stays responsive)"):
                t.expect(health_seconds is not None and health_seconds < HEALTH_LIMIT,
                         expected=f"/health within {HEALTH_LIMIT:g} s",
                         got="no answer" if health_seconds is None else f"{health_seconds:.2f} s: the event loop was busy")

            with t.step(f"{BURST} requests at once overlap (lookups run at the same time), each with its own answer"):
                for sku, response in zip(burst_skus, responses):
                    _expect_answer(t, twin, sku, response)
                t.expect(twin.most >= MIN_OVERLAP,
                         expected=f"at least {MIN_OVERLAP} of {BURST} lookups running at the same moment "
                                  f"(about {LOOKUP_SECONDS:g} s in all)",
                         got=f"at most {twin.most} at a time; the {BURST} requests took {total:.1f} s in all")
