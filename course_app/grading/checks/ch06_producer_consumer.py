"""Check for ch06_producer_consumer: a stream that ends promptly when its client leaves.

The learner's app is wrapped in a thin ASGI layer that notes when each
WebSocket handler returns, and ``prices()`` is wrapped to note when the feed is
closed. A real client connects, then leaves (a clean close, then an abrupt
drop) while the handler sits in a long TICK; the check measures how long the
handler and the feed live on after that.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import websockets

from course_app.grading.checker import T
from course_app.grading.checks._inputs import seeded
from course_app.grading.kit import learner_app, serve


SLOW_TICK = 2.5  # the handler is asleep in prices() when the client leaves
BOUND = 0.8  # a watched stream ends within milliseconds; a send-only one takes about SLOW_TICK
WATCH = 1.6  # how long we wait before reporting "still running"


@dataclass
class Probe:
    """When handlers and feeds started and ended (perf_counter seconds; written from the server thread)."""

    handlers_started: int = 0
    handler_ends: list[float] = field(default_factory=list)
    feeds_started: int = 0
    feed_ends: list[float] = field(default_factory=list)

    def wrap_app(self, app: Any) -> Any:
        async def watched(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "websocket":
                await app(scope, receive, send)
                return
            self.handlers_started += 1
            try:
                await app(scope, receive, send)
            finally:
                self.handler_ends.append(time.perf_counter())

        return watched

    def wrap_feed(self, feed: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def watched(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            self.feeds_started += 1
            try:
                async for item in feed(*args, **kwargs):
                    yield item
            finally:
                self.feed_ends.append(time.perf_counter())

        return watched


async def _ended_after(ends: list[float], count: int, left_at: float) -> float | None:
    """Seconds from ``left_at`` until ``ends`` holds ``count`` entries, or None if not within WATCH."""
    deadline = left_at + WATCH
    while time.perf_counter() < deadline:
        if len(ends) >= count:
            return max(0.0, ends[count - 1] - left_at)
        await asyncio.sleep(0.01)
    return None


def _late(seconds: float | None) -> str:
    text = f"still running {WATCH:g} s after the client left" if seconds is None else f"ended {seconds:.2f} s after"
    if seconds is None or seconds > BOUND:
        text += (". If you run a producer and a consumer, wait for the FIRST one to finish "
                 "(asyncio.wait(..., return_when=asyncio.FIRST_COMPLETED)); gather() waits for both.")
    return text


async def _updates(t: T, ws: Any, n: int, what: str) -> list[Any]:
    """The next ``n`` frames, each parsed; a binary frame or non-JSON text fails the step."""
    got: list[Any] = []
    for _ in range(n):
        frame = await t.within(2, ws.recv(), what)
        t.expect(isinstance(frame, str), expected='updates as text frames, like {"seq": 1}',
                 got=f"a binary frame {frame[:30]!r}" if isinstance(frame, bytes) else frame)
        try:
            got.append(json.loads(frame))
        except ValueError:
            t.fail(f"An update that is not JSON: {frame[:80]!r}")
    return got


async def check(learner: ModuleType, t: T) -> None:
    with seeded(t) as rng:
        await _check(learner, t, rng)


async def _check(learner: ModuleType, t: T, rng: random.Random) -> None:
    with t.step("TICK and prices() are still in the file"):
        t.expect(hasattr(learner, "TICK"), expected="a module-level TICK (keep the line from the original file)", got="missing")
        t.expect(callable(getattr(learner, "prices", None)), expected="the prices() feed from the original file", got="missing")

    probe = Probe()
    setattr(learner, "prices", probe.wrap_feed(learner.prices))
    app = probe.wrap_app(learner_app(learner))
    async with serve(app, ws_ping_interval=None, graceful_timeout=0.5) as server:
        url = server.ws_url + "/stream"

        with t.step('streams {"seq": 1}, {"seq": 2}, ... in order, as JSON text frames'):
            setattr(learner, "TICK", 0.05)
            count = rng.randint(3, 6)
            async with websockets.connect(url, ping_interval=None) as ws:
                await ws.send("hello from the client")  # a client may talk; the stream goes on
                got = await _updates(t, ws, count, "waiting for the next update")
            want = [{"seq": n} for n in range(1, count + 1)]
            t.expect(got == want, expected=json.dumps(want), got=got)
            await _ended_after(probe.handler_ends, probe.handlers_started, time.perf_counter())

        with t.step("when some clients leave, the others keep streaming"):
            stayers = [await websockets.connect(url, ping_interval=None) for _ in range(2)]
            leavers = [await websockets.connect(url, ping_interval=None) for _ in range(rng.randint(1, 3))]
            try:
                for ws in stayers + leavers:
                    await _updates(t, ws, 2, "waiting for the first updates")
                for ws in leavers:
                    await ws.close()
                for n, ws in enumerate(stayers, 1):
                    more = await _updates(t, ws, 4, f"client {n} (still connected) waiting for more updates")
                    t.expect([m.get("seq") if isinstance(m, dict) else m for m in more] == list(range(3, 7)),
                             expected='{"seq": 3} to {"seq": 6} for a client that stays', got=more)
            finally:
                for ws in stayers + leavers:
                    await ws.close()
            await _ended_after(probe.handler_ends, probe.handlers_started, time.perf_counter())

        slow_tick = rng.uniform(SLOW_TICK, SLOW_TICK + 1.0)
        setattr(learner, "TICK", slow_tick)
        started = probe.handlers_started
        feeds = probe.feeds_started
        async with websockets.connect(url, ping_interval=None) as ws:
            await asyncio.sleep(0.3)  # the handler is now asleep inside prices()
        left_at = time.perf_counter()
        handler = await _ended_after(probe.handler_ends, started + 1, left_at)
        with t.step(f"the handler ends within {BOUND:g} s after the client closes (TICK of {SLOW_TICK:g} s or more)"):
            t.expect(handler is not None and handler <= BOUND,
                     expected=f"ended within {BOUND:g} s, long before the next update is due",
                     got=_late(handler))
        with t.step(f"the feed, prices(), stops within {BOUND:g} s after the client closes"):
            t.expect(probe.feeds_started > feeds, expected="the handler reads its updates from prices()",
                     got="prices() was never started")
            feed = await _ended_after(probe.feed_ends, probe.feeds_started, left_at)
            t.expect(feed is not None and feed <= BOUND,
                     expected=f"prices() closed within {BOUND:g} s (cancel the task that reads it)",
                     got=_late(feed).replace("still running", "prices() still running"))

        started = probe.handlers_started
        ws = await websockets.connect(url, ping_interval=None)
        await asyncio.sleep(0.3)
        ws.transport.abort()  # no close frame: the TCP connection just goes away
        left_at = time.perf_counter()
        dropped = await _ended_after(probe.handler_ends, started + 1, left_at)
        with t.step(f"the handler ends within {BOUND:g} s after the connection drops without a close frame"):
            t.expect(dropped is not None and dropped <= BOUND, expected=f"ended within {BOUND:g} s",
                     got=_late(dropped))

        with t.step("the server still streams to a new client afterwards"):
            setattr(learner, "TICK", 0.05)
            async with websockets.connect(url, ping_interval=None) as ws:
                first = (await _updates(t, ws, 1, "waiting for the first update"))[0]
            t.expect(first == {"seq": 1}, expected='{"seq": 1}', got=first)
