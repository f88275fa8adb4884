"""Check for ch02_fix_blocking: a blocking call inside async def, moved off the event loop.

The check swaps the learner's ``slow_lookup`` for an instrumented twin that
blocks just the same (time.sleep) but counts how many run at once. Then it fires
concurrent requests: they must overlap (a counter, not a clock), and a cheap
``GET /health`` sent while lookups run must answer at once (the loop is free).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from types import ModuleType
from typing import Any

import httpx

from course_app.grading.checker import T
from course_app.grading.kit import http_client, learner_app, serve


LOOKUP_SECONDS = 0.5
BURST = 6
MIN_OVERLAP = 4          # the default executor has min(32, cpus + 4) >= 5 threads
HEALTH_LIMIT = 0.2       # a blocked loop makes /health wait >= ~0.45 s


class _Twin:
    """A blocking slow_lookup that counts calls and how many run at the same moment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.token = secrets.token_hex(4)
        self.calls = 0
        self.now = 0
        self.most = 0

    def __call__(self, sku: str) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(LOOKUP_SECONDS)
            return {"sku": sku, "in_stock": 3, "token": self.token}
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


async def check(learner: ModuleType, t: T) -> None:
    twin = _Twin()
    if not callable(getattr(learner, "slow_lookup", None)):
        t.fail("Your file has no slow_lookup(). Keep the function from the original file (`course reset ch02_fix_blocking`).")
    learner.slow_lookup = twin  # type: ignore[attr-defined]
    async with serve(learner_app(learner)) as server, http_client(server, timeout=10) as client:
        with t.step("GET /stock/{sku} answers with what slow_lookup() returns"):
            response = await client.get("/stock/abc")
            t.expect(response.status_code == 200, expected="status 200", got=f"status {response.status_code}: {response.text[:200]}")
            t.expect(twin.calls == 1, expected="the endpoint calls slow_lookup(sku) once per request",
                     got=f"slow_lookup was called {twin.calls} time(s)")
            body = response.json()
            t.expect(body == {"sku": "abc", "in_stock": 3, "token": twin.token},
                     expected="the dict slow_lookup returned, unchanged", got=body)

        twin.most = 0
        started = t.clock()
        burst = asyncio.gather(*(client.get(f"/stock/item{i}") for i in range(BURST)))
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

        with t.step(f"{BURST} requests at once overlap (lookups run at the same time)"):
            t.expect(all(r.status_code == 200 for r in responses), expected="every request answers 200",
                     got=[r.status_code for r in responses])
            t.expect(twin.most >= MIN_OVERLAP,
                     expected=f"at least {MIN_OVERLAP} of {BURST} lookups running at the same moment "
                              f"(about {LOOKUP_SECONDS:g} s in all)",
                     got=f"at most {twin.most} at a time; the {BURST} requests took {total:.1f} s in all")
