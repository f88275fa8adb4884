"""Check for ch02_async_client: concurrent upstream calls with a timeout per call.

Real upstreams: three small FastAPI vendors on their own sockets, each answering
after a set delay and counting how many requests they serve at once (all three
share one counter), and one silent upstream that accepts the request and never
answers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import ModuleType
from typing import Any

from fastapi import FastAPI

from course_app.grading.checker import T, CheckFailed
from course_app.grading.kit import serve


SLOW = 0.6
SILENT_TIMEOUT = 0.8


class _Gauge:
    """How many upstream requests are being served right now, across all vendor servers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


def _vendor(name: str, delays: dict[str, float], gauge: _Gauge) -> FastAPI:
    app = FastAPI()

    @app.get("/quote")
    async def quote() -> dict[str, Any]:
        gauge.enter()
        try:
            await asyncio.sleep(delays[name])
            return {"vendor": name, "price": 100 + len(name) * 7}
        finally:
            gauge.leave()

    return app


def _silent() -> FastAPI:
    app = FastAPI()

    @app.get("/quote")
    async def quote() -> dict[str, Any]:
        await asyncio.Event().wait()  # never answers
        return {}

    return app


@asynccontextmanager
async def _upstreams(delays: dict[str, float], gauge: _Gauge) -> AsyncIterator[dict[str, str]]:
    async with AsyncExitStack() as stack:
        urls = {}
        for name in delays:
            server = await stack.enter_async_context(serve(_vendor(name, delays, gauge)))
            urls[name] = server.url + "/quote"
        silent = await stack.enter_async_context(serve(_silent(), graceful_timeout=0.1))
        urls["silent"] = silent.url + "/quote"
        yield urls


def _body(name: str) -> dict[str, Any]:
    return {"vendor": name, "price": 100 + len(name) * 7}


async def check(learner: ModuleType, t: T) -> None:
    fetch_quotes = getattr(learner, "fetch_quotes", None)
    if fetch_quotes is None:
        raise CheckFailed("Your file has no fetch_quotes(urls, timeout). Keep the function from the original file.")
    gauge = _Gauge()
    delays = {"acme": 0.3, "bolt": 0.0, "cosmo": 0.15}
    async with _upstreams(delays, gauge) as urls:
        names = ["acme", "bolt", "cosmo"]

        with t.step("returns one quote per URL, in the order of the URLs"):
            got = await t.within(5, fetch_quotes([urls[n] for n in names], 2.0), "fetch_quotes(3 urls, 2.0)")
            t.expect(got == [_body(n) for n in names],
                     expected="[quote of url 1, quote of url 2, quote of url 3], even when url 2 answers first",
                     got=got)

        with t.step(f"asks the upstreams at the same time (3 x {SLOW:g} s should take about {SLOW:g} s)"):
            delays.update(acme=SLOW, bolt=SLOW, cosmo=SLOW)
            gauge.most = 0
            started = t.clock()
            got = await t.within(5, fetch_quotes([urls[n] for n in names], 3.0), "fetch_quotes(3 slow urls, 3.0)")
            took = t.clock() - started
            t.expect(got == [_body(n) for n in names], expected="the three quotes, in order", got=got)
            t.expect(gauge.most >= 3, expected="all 3 upstream calls in flight at the same moment",
                     got=f"at most {gauge.most} at a time; {took:.1f} s in all")

        with t.step(f"an upstream that never answers becomes None after the timeout ({SILENT_TIMEOUT:g} s), the others still answer"):
            delays.update(acme=0.2, cosmo=0.2)
            order = ["acme", "silent", "cosmo"]
            started = t.clock()
            got = await t.within(4, fetch_quotes([urls[n] for n in order], SILENT_TIMEOUT),
                                 f"fetch_quotes([ok, silent, ok], {SILENT_TIMEOUT:g})")
            took = t.clock() - started
            t.expect(got == [_body("acme"), None, _body("cosmo")],
                     expected="[quote, None, quote]", got=got)
            t.expect(took < SILENT_TIMEOUT * 2.5,
                     expected=f"done soon after the {SILENT_TIMEOUT:g} s timeout",
                     got=f"{took:.1f} s: is the timeout given to each call?")
