"""Check for ch07_rate_limit: flood the learner's /chat and watch the token bucket work.

Real uvicorn, real ``websockets`` clients. Messages are sent in one go (pipelined)
so the server sees them back to back; the refill rate is slow (1 token per second)
and every waiting step waits at least twice as long as it needs, so a busy machine
changes nothing. Counters, not stopwatches, decide.
"""

from __future__ import annotations

import asyncio
import json
from types import ModuleType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.grading.checker import T
from course_app.grading.kit import learner_app, serve
from course_app.realtime.codes import CloseCode

RATE = 1.0
BURST = 5
STRIKES = 3
WAIT = 3.0


class Replies:
    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.close: tuple[int, str] | None = None
        self.silent = False

    def describe(self) -> str:
        shown = ", ".join(self.kinds) or "nothing"
        if self.close:
            shown += f", then a close with code {self.close[0]} and reason {self.close[1]!r}"
        elif self.silent:
            shown += ", then no more replies"
        return shown


def _kind(raw: Any) -> str:
    try:
        message = json.loads(raw)
    except (TypeError, ValueError):
        return f"not JSON {raw!r:.40}"
    if isinstance(message, dict) and message.get("type") == "echo":
        return "echo"
    if isinstance(message, dict) and message.get("type") == "error" and message.get("error") == "rate_limited":
        return "rate_limited"
    return f"{raw!r:.60}"


async def _send_many(ws: ClientConnection, count: int, read: int | None = None) -> Replies:
    """Send ``count`` messages at once, then read ``read`` replies (all, by default) or until the close."""
    replies = Replies()
    try:
        for i in range(count):
            await ws.send(f"message {i}")
    except ConnectionClosed:
        pass
    try:
        for _ in range(count if read is None else read):
            replies.kinds.append(_kind(await asyncio.wait_for(ws.recv(), WAIT)))
    except TimeoutError:
        replies.silent = True
    except ConnectionClosed as closed:
        replies.close = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
    return replies


async def check(learner: ModuleType, t: T) -> None:
    for name, value in [("RATE", RATE), ("BURST", BURST), ("MAX_STRIKES", STRIKES)]:
        setattr(learner, name, value)
    loop = asyncio.get_running_loop()
    async with serve(learner_app(learner)) as server:
        url = server.ws_url + "/chat"
        opts: dict[str, Any] = {"ping_interval": None}
        async with connect(url, **opts) as idle, connect(url, **opts) as a, connect(url, **opts) as b:
            idle_since = loop.time()
            budget = f"(RATE={RATE:g}/s, BURST={BURST}, MAX_STRIKES={STRIKES})"

            with t.step(f"a burst within the budget passes {budget}"):
                emptied_from = loop.time()  # a's bucket was last refilled after this instant
                first = await _send_many(a, BURST + 1)
                t.expect(first.kinds[:BURST] == ["echo"] * BURST, got=first.describe(),
                         expected=f"{BURST} messages sent at once on a new connection: {BURST} echoes")

            with t.step("one message over the budget gets a rate_limited error frame, and the connection stays open"):
                t.expect(first.kinds[BURST:] == ["rate_limited"], got=first.describe(),
                         expected=f"message {BURST + 1} of a burst of {BURST + 1}: "
                                  '{"type": "error", "error": "rate_limited", ...} (and no close)')

            with t.step("each connection has its own bucket (another client's burst still passes)"):
                other = await _send_many(b, BURST)
                t.expect(other.kinds == ["echo"] * BURST, got=other.describe(),
                         expected=f"while the first connection is out of tokens, a second one sends {BURST} "
                                  f"messages and gets {BURST} echoes")

            with t.step(f"tokens come back at RATE per second ({RATE:g} per second here)"):
                await asyncio.sleep(2.5 / RATE)
                later = await _send_many(a, BURST)
                waited = loop.time() - emptied_from  # at most this long since a's last refill
                t.expect(later.kinds[:2] == ["echo", "echo"], got=later.describe(),
                         expected=f"after waiting {2.5 / RATE:g} s, {BURST} messages at once on the emptied connection: "
                                  "2 echoes first (the tokens that came back)")
                if waited < BURST / RATE:  # on a machine this slow the bucket may have refilled: judge nothing
                    t.expect(later.kinds.count("echo") < BURST, got=later.describe(),
                             expected=f"fewer than {BURST} echoes: in the {waited:.1f} s since the bucket was emptied, "
                                      f"at most {waited * RATE:.1f} tokens can have come back at RATE={RATE:g}/s")

            with t.step(f"the bucket holds at most BURST tokens, however long a client was idle ({BURST} here)"):
                await asyncio.sleep(max(0.0, idle_since + 4.0 / RATE - loop.time()))
                rested = await _send_many(idle, BURST + 3)
                t.expect("rate_limited" in rested.kinds, got=rested.describe(),
                         expected=f"a connection idle for over {4 / RATE:g} s sends {BURST + 3} messages at once: "
                                  f"about {BURST} echoes, then rate_limited error frames")

            with t.step("a sustained flood gets error frames first, then a close with 1008 and a reason"):
                async with connect(url, **opts) as flood:
                    replies = await _send_many(flood, 60)
                errors = replies.kinds.count("rate_limited")
                t.expect(replies.close is not None and replies.close[0] == CloseCode.POLICY_VIOLATION,
                         got=replies.describe(), expected="60 messages at once end with a close, code 1008")
                t.expect(1 <= errors <= STRIKES + 1, got=replies.describe(),
                         expected=f"rate_limited error frames before the close (MAX_STRIKES={STRIKES} of them)")
                t.expect(bool(replies.close and replies.close[1]), got=replies.describe(),
                         expected="a close reason that tells the client to slow down")

            with t.step("the other clients are still served"):
                await asyncio.sleep(1.5 / RATE)
                still = await _send_many(b, 1)
                t.expect(still.kinds == ["echo"], got=still.describe(),
                         expected="the second connection still gets its echo after the flood")
