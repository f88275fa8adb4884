"""Check for ch06_heartbeat: app-level pings, tolerance for late pongs, a named close for silence.

Real clients talk to the learner's /heartbeat on a real socket, several at once:
one answers every ping at once, one answers each ping well over an interval late
(but within MAX_MISSED), and one answers a few pings and then goes silent. This
runs twice, with two different MAX_MISSED values drawn for the run. Protocol-level
pings are off on both sides, so only the learner's heartbeat can notice silence.

The silent client is judged by counting, not by one implementation's clock: after
its last pong it must get exactly MAX_MISSED pings, and the close must come about
one interval after the last of them (not the moment it was sent, not a ping later).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from types import ModuleType

import websockets
from websockets.asyncio.client import ClientConnection

from course_app.grading.checker import T
from course_app.grading.checks._inputs import seeded
from course_app.grading.kit import learner_app, serve
from course_app.realtime.codes import CloseCode

INTERVAL = 0.3
SLACK = 0.5  # seconds a loaded machine may add to any moment


@dataclass
class Session:
    pings: list[float] = field(default_factory=list)  # when each ping arrived
    pongs: list[float] = field(default_factory=list)  # when each pong was sent
    others: list[str] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    closed_at: float | None = None

    def pings_after_last_pong(self) -> list[float]:
        last = self.pongs[-1] if self.pongs else 0.0
        return [p for p in self.pings if p > last]


async def _talk(ws: ClientConnection, seconds: float, *, late: float = 0.0, answers: int | None = None) -> Session:
    """Read for ``seconds``; answer pings after ``late`` s, and only the first ``answers`` of them if given."""
    session = Session()
    pending: set[asyncio.Task[None]] = set()

    async def pong_later() -> None:
        await asyncio.sleep(late)
        await ws.send(json.dumps({"type": "pong"}))
        session.pongs.append(time.perf_counter())

    try:
        async with asyncio.timeout(seconds):
            async for raw in ws:
                try:
                    message = json.loads(raw) if isinstance(raw, str) else raw
                except ValueError:
                    message = raw
                if message != {"type": "ping"}:
                    shown = json.dumps(message) if not isinstance(message, bytes) else f"a binary frame {message[:30]!r}"
                    session.others.append(shown[:80])
                    continue
                session.pings.append(time.perf_counter())
                if answers is not None and len(session.pings) > answers:
                    continue
                if late:
                    task = asyncio.create_task(pong_later())
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                else:
                    await ws.send(json.dumps({"type": "pong"}))
                    session.pongs.append(time.perf_counter())
    except (TimeoutError, websockets.ConnectionClosed):
        pass
    finally:
        for task in list(pending):
            task.cancel()
    if ws.close_code is not None:
        session.close_code = ws.close_code
        session.close_reason = ws.close_reason or ""
        session.closed_at = time.perf_counter()
    return session


def _pings(n: int) -> str:
    return f"{n} ping" if n == 1 else f"{n} pings"


def _ended(session: Session, since: float) -> str:
    if session.close_code is None or session.closed_at is None:
        return "still open"
    return f"closed with code {session.close_code} after {session.closed_at - since:.1f} s"


async def check(learner: ModuleType, t: T) -> None:
    with seeded(t) as rng:
        await _check(learner, t, rng)


async def _check(learner: ModuleType, t: T, rng: random.Random) -> None:
    with t.step("PING_INTERVAL and MAX_MISSED are module-level settings"):
        for name in ("PING_INTERVAL", "MAX_MISSED"):
            t.expect(hasattr(learner, name), expected=f"a module-level {name} (keep the line from the original file)",
                     got="missing")
    limits = rng.sample([3, 4, 5], 2)
    setattr(learner, "PING_INTERVAL", INTERVAL)

    async with serve(learner_app(learner), ws_ping_interval=None) as server:
        url = server.ws_url + "/heartbeat"

        async def session(seconds: float, **how: float | int) -> tuple[float, Session]:
            async with websockets.connect(url, ping_interval=None) as ws:
                started = time.perf_counter()
                return started, await _talk(ws, seconds, **how)  # type: ignore[arg-type]

        for run, limit in enumerate(limits, 1):
            setattr(learner, "MAX_MISSED", limit)
            answered = rng.randint(0, 2)
            late = (limit - 1.5) * INTERVAL  # after the next ping went out, yet before the limit
            watch = (answered + limit + 1) * INTERVAL + SLACK + 0.5
            (p_start, prompt), (_, slow), (_, silent) = await asyncio.gather(
                session(watch), session(watch, late=late), session(watch, answers=answered))
            label = " (second round, another MAX_MISSED)" if run > 1 else ""  # drawn values stay out of step names

            if run == 1:
                with t.step('sends exactly {"type": "ping"} as a text frame, every PING_INTERVAL'):
                    t.expect(not prompt.others, expected='only {"type": "ping"} messages',
                             got=f"also: {', '.join(prompt.others[:3])}")
                    span = (prompt.closed_at or time.perf_counter()) - p_start
                    most = int(span / INTERVAL) + 2
                    least = max(2, int(0.6 * (watch - SLACK) / INTERVAL))
                    t.expect(least <= len(prompt.pings) <= most, got=_pings(len(prompt.pings)),
                             expected=f"between {least} and {most} pings in {span:.1f} s at PING_INTERVAL = {INTERVAL:g} s")
            with t.step("a client that answers every ping at once stays connected" + label):
                t.expect(prompt.close_code is None, expected=f"still open after {watch:.1f} s", got=_ended(prompt, p_start))
            with t.step("a client whose pongs arrive after the next ping, within MAX_MISSED, stays connected" + label):
                t.expect(slow.close_code is None, got=f"{_ended(slow, p_start)} ({_pings(len(slow.pings))})",
                         expected=f"still open: each pong came {late:.2f} s after its ping, a late pong still counts")

            unanswered = silent.pings_after_last_pong()
            with t.step("a client that goes silent is closed after exactly MAX_MISSED unanswered pings" + label):
                t.expect(silent.close_code is not None, expected=f"closed after {_pings(limit)} without a pong",
                         got=f"still open after {watch:.1f} s ({_pings(len(unanswered))} sent since its last pong)")
                t.expect(len(unanswered) == limit, expected=f"{_pings(limit)} without a pong, then the close",
                         got=f"{_pings(len(unanswered))} without a pong, then the close"
                         + (" (one too many: the close comes an interval late)" if len(unanswered) == limit + 1 else ""))
            with t.step("the close comes one interval after the last unanswered ping, not with it" + label):
                assert silent.closed_at is not None
                gap = silent.closed_at - unanswered[-1]
                t.expect(gap >= 0.5 * INTERVAL, expected=f"about {INTERVAL:g} s (PING_INTERVAL) between the last ping and the close: "
                         "that ping gets its interval to be answered", got=f"{gap:.2f} s")
                t.expect(gap <= INTERVAL + SLACK, expected=f"about {INTERVAL:g} s between the last ping and the close",
                         got=f"{gap:.2f} s")
            with t.step(f"the close code is CloseCode.HEARTBEAT_TIMEOUT ({int(CloseCode.HEARTBEAT_TIMEOUT)})" + label):
                t.expect(silent.close_code == CloseCode.HEARTBEAT_TIMEOUT,
                         expected=f"code {int(CloseCode.HEARTBEAT_TIMEOUT)}, so the client knows why it was dropped",
                         got=f"code {silent.close_code}" + (f" ({json.dumps(silent.close_reason)})" if silent.close_reason else ""))

        with t.step("after those closes, the server still pings a new client"):
            _, fresh = await session(2.5 * INTERVAL)
            t.expect(len(fresh.pings) >= 1, expected=f"at least one ping within {2.5 * INTERVAL:g} s", got=_pings(len(fresh.pings)))
