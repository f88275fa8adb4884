"""Check for ch06_heartbeat: app-level pings, tolerance for late pongs, a named close for silence.

Three real clients talk to the learner's /heartbeat on a real socket: one answers
every ping at once, one answers two intervals late, one answers twice and then
goes silent. Protocol-level pings are off on both sides, so only the learner's
heartbeat can notice the silence.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from types import ModuleType

import websockets
from websockets.asyncio.client import ClientConnection

from course_app.grading.checker import T
from course_app.grading.kit import learner_app, serve
from course_app.realtime.codes import CloseCode


INTERVAL = 0.25
MISSES = 4
SILENT_BOUND = 3.0  # a correct heartbeat closes after about INTERVAL * MISSES = 1 s


@dataclass
class Session:
    pings: int = 0
    others: list[str] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    closed_after: float | None = None


async def _talk(ws: ClientConnection, seconds: float, answer: str, late: float = 0.0, answers: int = 0) -> Session:
    """Read for ``seconds``; answer pings: "now", "late" (after ``late`` s), or the first ``answers`` only."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    session = Session()
    pending: set[asyncio.Task[None]] = set()

    async def pong_later() -> None:
        await asyncio.sleep(late)
        await ws.send(json.dumps({"type": "pong"}))

    try:
        async with asyncio.timeout(seconds):
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except (TypeError, ValueError):
                    session.others.append(repr(raw)[:60])
                    continue
                if not (isinstance(message, dict) and message.get("type") == "ping"):
                    session.others.append(repr(raw)[:60])
                    continue
                session.pings += 1
                if answer == "now" or (answer == "first" and session.pings <= answers):
                    await ws.send(json.dumps({"type": "pong"}))
                elif answer == "late":
                    task = asyncio.create_task(pong_later())
                    pending.add(task)
                    task.add_done_callback(pending.discard)
    except TimeoutError:
        pass
    except websockets.ConnectionClosed:
        pass
    finally:
        for task in list(pending):
            task.cancel()
    if ws.close_code is not None:
        session.close_code = ws.close_code
        session.close_reason = ws.close_reason or ""
        session.closed_after = loop.time() - started
    return session


def _pings(n: int) -> str:
    return f"{n} ping" if n == 1 else f"{n} pings"


def _ended(session: Session) -> str:
    if session.close_code is None:
        return "still open"
    return f"closed with code {session.close_code} after {session.closed_after:.1f} s"


async def check(learner: ModuleType, t: T) -> None:
    with t.step("PING_INTERVAL and MAX_MISSED are module-level settings"):
        for name in ("PING_INTERVAL", "MAX_MISSED"):
            t.expect(hasattr(learner, name), expected=f"a module-level {name} (keep the line from the original file)",
                     got="missing")
        setattr(learner, "PING_INTERVAL", INTERVAL)
        setattr(learner, "MAX_MISSED", MISSES)

    async with serve(learner_app(learner), ws_ping_interval=None) as server:
        url = server.ws_url + "/heartbeat"

        async with websockets.connect(url, ping_interval=None) as ws:
            prompt = await _talk(ws, 1.5, "now")
        with t.step(f'sends {{"type": "ping"}} every PING_INTERVAL (a client sees about 6 in 1.5 s at {INTERVAL} s)'):
            t.expect(3 <= prompt.pings <= 12, expected="between 3 and 12 pings in 1.5 s",
                     got=_pings(prompt.pings) + (f", other messages: {prompt.others[:3]}" if prompt.others else ""))
        with t.step("a client that answers every ping at once stays connected"):
            t.expect(prompt.close_code is None, expected="still open after 1.5 s", got=_ended(prompt))

        async with websockets.connect(url, ping_interval=None) as ws:
            late = await _talk(ws, 2.5, "late", late=2 * INTERVAL)
        with t.step(f"a client whose pongs arrive 2 intervals late (MAX_MISSED = {MISSES}) stays connected"):
            t.expect(late.close_code is None, expected="still open after 2.5 s: a late pong still counts",
                     got=f"{_ended(late)} ({_pings(late.pings)})")

        async with websockets.connect(url, ping_interval=None) as ws:
            silent = await _talk(ws, 0.5 + SILENT_BOUND, "first", answers=2)
        with t.step(f"a client that goes silent is closed within {SILENT_BOUND:g} s"):
            t.expect(silent.close_code is not None,
                     expected=f"closed about {INTERVAL * MISSES:g} s after the last pong",
                     got=f"still open after {0.5 + SILENT_BOUND:g} s ({_pings(silent.pings)} sent to a silent client)")
        with t.step(f"the close code is CloseCode.HEARTBEAT_TIMEOUT ({int(CloseCode.HEARTBEAT_TIMEOUT)})"):
            t.expect(silent.close_code == CloseCode.HEARTBEAT_TIMEOUT,
                     expected=f"code {int(CloseCode.HEARTBEAT_TIMEOUT)}, so the client knows why it was dropped",
                     got=f"code {silent.close_code}" + (f" ({silent.close_reason})" if silent.close_reason else ""))

        with t.step("after that close, the server still pings a new client"):
            async with websockets.connect(url, ping_interval=None) as ws:
                fresh = await _talk(ws, 0.8, "now")
            t.expect(fresh.pings >= 1, expected="at least one ping within 0.8 s", got=_pings(fresh.pings))
