"""Check for ch02_async_client: concurrent upstream calls with a timeout per call.

Real upstreams on a real socket: one small FastAPI app plays every vendor
(``/quote/{vendor}?delay=&status=``, a price drawn per run) and counts how many
requests it serves at once, and a second app never answers (``/silent/{n}``).
Vendors, prices, how many URLs, where the silent ones sit and the timeout all
change on every run; a repeated URL, an error status with a JSON body, and an
upstream that is slow but within the timeout are always among them.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import ModuleType
from typing import Any, cast
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from course_app.grading.checker import CheckFailed, T
from course_app.grading.checks._inputs import seeded
from course_app.grading.kit import serve

SLOW = 0.6
VENDORS = ("acme", "bolt", "cosmo", "dyna", "Żabka", "Ökoladen", "møller", "東京堂", "eve & co", "flux")


class _Gauge:
    """How many vendor requests are being served right now."""

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


def _vendors(prices: dict[str, int], gauge: _Gauge) -> FastAPI:
    app = FastAPI()

    @app.get("/quote/{vendor}")
    async def quote_(vendor: str, delay: float = 0.0, status: int = 200) -> JSONResponse:
        gauge.enter()
        try:
            await asyncio.sleep(delay)
        finally:
            gauge.leave()
        if status != 200:
            return JSONResponse({"error": "busy, try again later", "vendor": vendor}, status_code=status)
        return JSONResponse({"vendor": vendor, "price": prices[vendor]})

    return app


def _silent() -> FastAPI:
    app = FastAPI()

    @app.get("/silent/{n}")
    async def silent(n: int) -> dict[str, Any]:
        await asyncio.Event().wait()  # accepts the request, never answers
        return {}

    return app


class Upstreams:
    def __init__(self, vendor_url: str, silent_url: str, prices: dict[str, int]) -> None:
        self.vendor_url = vendor_url
        self.silent_url = silent_url
        self.prices = prices
        self.silent_count = 0

    def vendor(self, name: str, delay: float = 0.0, status: int = 200) -> tuple[str, Any]:
        """A URL and the body it answers with."""
        url = f"{self.vendor_url}/quote/{quote(name, safe='')}?delay={delay:.3f}"
        if status != 200:
            return url + f"&status={status}", {"error": "busy, try again later", "vendor": name}
        return url, {"vendor": name, "price": self.prices[name]}

    def silent(self) -> tuple[str, Any]:
        self.silent_count += 1
        return f"{self.silent_url}/silent/{self.silent_count}", None


@asynccontextmanager
async def _upstreams(prices: dict[str, int], gauge: _Gauge) -> AsyncIterator[Upstreams]:
    async with AsyncExitStack() as stack:
        vendors = await stack.enter_async_context(serve(_vendors(prices, gauge), graceful_timeout=0.2))
        silent = await stack.enter_async_context(serve(_silent(), graceful_timeout=0.1))
        yield Upstreams(vendors.url, silent.url, prices)


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


async def _call(t: T, fetch_quotes: Callable[..., Any], urls: list[str], timeout: float, within: float) -> Any:
    what = f"fetch_quotes({len(urls)} urls, {timeout:.2f})"
    pending = fetch_quotes(list(urls), timeout)
    if not inspect.isawaitable(pending):
        t.fail(f"{what} returned {type(pending).__name__} right away. Define it with `async def`.")
    return await t.within(within, cast(Awaitable[Any], pending), what)


def _expect_quotes(t: T, got: Any, wanted: list[Any], what: str) -> None:
    t.expect(isinstance(got, (list, tuple)) and list(got) == wanted,
             expected=f"{what}: {_show(wanted)}", got=_show(got) if isinstance(got, (list, tuple)) else repr(got))


async def check(learner: ModuleType, t: T) -> None:
    fetch_quotes = getattr(learner, "fetch_quotes", None)
    if not callable(fetch_quotes):
        raise CheckFailed("Your file has no fetch_quotes(urls, timeout). Keep the function from the original file.")
    gauge = _Gauge()
    with seeded(t) as rng:
        prices = {name: rng.randint(90, 990) for name in VENDORS}
        async with _upstreams(prices, gauge) as up:
            with t.step("returns one quote per URL, in the order of the URLs (later ones answer first, one repeated)"):
                names = rng.sample(VENDORS, 3)
                pairs = [up.vendor(name, delay=0.08 * (3 - i)) for i, name in enumerate(names)]
                pairs.insert(rng.randint(0, 3), pairs[rng.randint(0, 2)])  # the same URL twice
                got = await _call(t, fetch_quotes, [url for url, _ in pairs], 2.0, 5)
                _expect_quotes(t, got, [body for _, body in pairs], "one JSON body per URL, in the order of the URLs")

            with t.step(f"asks the upstreams at the same time (each takes {SLOW:g} s: all in flight at once)"):
                names = rng.sample(VENDORS, rng.randint(5, 7))
                pairs = [up.vendor(name, delay=SLOW) for name in names]
                gauge.most = 0
                started = t.clock()
                got = await _call(t, fetch_quotes, [url for url, _ in pairs], 3.0, 5)
                took = t.clock() - started
                _expect_quotes(t, got, [body for _, body in pairs], "the quotes, in order")
                t.expect(gauge.most >= len(pairs), expected=f"all {len(pairs)} upstream calls in flight at the same moment",
                         got=f"at most {gauge.most} at a time; {took:.1f} s in all")

            with t.step("an error status is still an answer: its JSON body comes back as it is, the others too"):
                names = rng.sample(VENDORS, 4)
                pairs = [up.vendor(name, delay=0.05) for name in names[:3]]
                pairs.insert(rng.randint(0, 3), up.vendor(names[3], delay=0.05, status=rng.choice((429, 500, 503))))
                got = await _call(t, fetch_quotes, [url for url, _ in pairs], 2.0, 5)
                _expect_quotes(t, got, [body for _, body in pairs],
                               "every body as the upstream sent it, the error's body included")

            with t.step("every upstream that never answers becomes None after the timeout, the others still answer"):
                timeout = rng.uniform(0.6, 0.9)
                names = rng.sample(VENDORS, 3)
                pairs = [up.vendor(names[0], delay=0.1), up.vendor(names[1], delay=0.1),
                         up.vendor(names[2], delay=timeout * 0.4)]  # slow, but well within the timeout
                for _ in range(rng.randint(2, 3)):
                    pairs.insert(rng.randint(0, len(pairs)), up.silent())
                started = t.clock()
                got = await _call(t, fetch_quotes, [url for url, _ in pairs], timeout, 4)
                took = t.clock() - started
                _expect_quotes(t, got, [body for _, body in pairs],
                               f"None in the place of each silent upstream (timeout {timeout:.2f} s), the quotes elsewhere")
                t.expect(took < timeout * 2 + 0.5,
                         expected=f"done soon after the {timeout:.2f} s timeout (the silent ones wait side by side)",
                         got=f"{took:.1f} s: is the timeout given to each call, and do the calls run at once?")

            with t.step("an empty list gives an empty list"):
                got = await _call(t, fetch_quotes, [], 1.0, 3)
                t.expect(isinstance(got, (list, tuple)) and list(got) == [], expected="[]", got=_show(got))
