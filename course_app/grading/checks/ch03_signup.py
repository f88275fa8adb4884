"""Check for ch03_signup: answer first, then the welcome message, then the audit entry.

The check swaps in twins of send_welcome (1.5 s, async) and write_audit (sync)
that write to the learner's ``outbox`` just like the originals, so the timing
cannot be shortened by editing them. It times the response and reads the outbox.
"""

from __future__ import annotations

import asyncio
import time
from types import ModuleType
from typing import Any

from course_app.grading.checker import CheckFailed, T
from course_app.grading.kit import http_client, learner_app, serve


WELCOME_SECONDS = 1.5
QUICK = 0.6
EMAIL = "ada@example.com"


async def _wait_for(outbox: list[dict[str, Any]], event: str, seconds: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for entry in list(outbox):
            if entry.get("event") == event:
                return entry
        await asyncio.sleep(0.02)
    return None


async def check(learner: ModuleType, t: T) -> None:
    outbox = getattr(learner, "outbox", None)
    if not isinstance(outbox, list):
        raise CheckFailed("Your file has no `outbox` list. Keep `outbox: list[dict] = []` from the original file.")

    async def send_welcome(email: str) -> None:
        await asyncio.sleep(WELCOME_SECONDS)
        outbox.append({"event": "welcome", "email": email, "at": time.monotonic()})

    def write_audit(email: str) -> None:
        outbox.append({"event": "audit", "email": email, "at": time.monotonic()})

    learner.send_welcome = send_welcome  # type: ignore[attr-defined]
    learner.write_audit = write_audit  # type: ignore[attr-defined]

    async with serve(learner_app(learner)) as server, http_client(server, timeout=8) as client:
        outbox.clear()
        started = t.clock()
        response = await client.post("/signup", params={"email": EMAIL})
        answered_at = time.monotonic()
        took = t.clock() - started
        welcomed_before_answer = any(e.get("event") == "welcome" for e in outbox)

        with t.step('POST /signup?email=... answers 200 or 202 with {"message": "Welcome!"}'):
            t.expect(response.status_code in (200, 202), expected="status 200 or 202",
                     got=f"status {response.status_code}: {response.text[:200]}")
            t.expect(response.json() == {"message": "Welcome!"}, expected='{"message": "Welcome!"}', got=response.json())

        with t.step(f"the answer comes well before the welcome message is sent (under {QUICK:g} s; sending takes {WELCOME_SECONDS:g} s)"):
            t.expect(not welcomed_before_answer and took < QUICK,
                     expected=f"the response within {QUICK:g} s, before the welcome message",
                     got=f"{took:.2f} s" + (", after the welcome message was already sent" if welcomed_before_answer else ""))

        with t.step("the welcome message is sent after the response"):
            welcome = await _wait_for(outbox, "welcome", WELCOME_SECONDS + 3)
            t.expect(welcome is not None, expected=f"a welcome entry in the outbox within {WELCOME_SECONDS + 3:g} s",
                     got=f"outbox events: {[e.get('event') for e in outbox]}")
            assert welcome is not None
            t.expect(welcome.get("email") == EMAIL, expected=f"the welcome message goes to {EMAIL}", got=welcome.get("email"))
            t.expect(welcome["at"] >= answered_at, expected="sent after the response", got="sent before the response")

        with t.step("then the audit entry is written: welcome first, audit second"):
            audit = await _wait_for(outbox, "audit", 2)
            events = [e.get("event") for e in outbox]
            t.expect(audit is not None, expected="an audit entry in the outbox", got=f"outbox events: {events}")
            assert audit is not None
            t.expect(audit.get("email") == EMAIL, expected=f"the audit entry names {EMAIL}", got=audit.get("email"))
            t.expect(events == ["welcome", "audit"], expected='outbox events ["welcome", "audit"], once each', got=events)
