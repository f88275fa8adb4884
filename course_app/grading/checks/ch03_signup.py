"""Check for ch03_signup: answer first, then the welcome message, then the audit entry.

The check swaps in twins of send_welcome (1.5 s, async) and write_audit (sync)
that write to the learner's ``outbox`` just like the originals, so the timing
cannot be shortened by editing them. It signs up several addresses at once
(different on every run, non-ASCII and plus-addresses among them), times each
response, and reads the outbox for each address. When the server log shows why
a task never ran (``add_task(f(x))`` queues f's result, which is not callable),
the report says so.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx

from course_app.grading.checker import CheckFailed, T
from course_app.grading.checks._inputs import seeded
from course_app.grading.kit import http_client, learner_app, serve

WELCOME_SECONDS = 1.5
QUICK = 0.6
USERS = ("ada", "grace", "zoë", "józef", "ngozi", "li.lei", "ada+news", "o'brien")


@dataclass
class Signup:
    email: str
    response: httpx.Response | None = None
    took: float = 0.0
    answered_at: float = 0.0


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _cause(t: T) -> str:
    """What the server log says about a task that could not run, as advice."""
    for record in t.server_log.records:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, TypeError) and "callable" in str(error):
            return (f"\nAfter the response, the server raised TypeError: {error}. "
                    "add_task(send_welcome(email)) calls the function at once and queues what it returned; "
                    "pass the function and its argument separately: add_task(send_welcome, email).")
    return ""


async def _settle(outbox: list[dict[str, Any]], want: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(outbox) < want:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # and nothing more arrives


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

    with seeded(t) as rng:
        signups = [Signup(f"{user}@example.com") for user in rng.sample(USERS, 3)]
        async with serve(learner_app(learner)) as server, http_client(server, timeout=8) as client:
            outbox.clear()

            async def sign_up(signup: Signup) -> None:
                started = t.clock()
                signup.response = await client.post("/signup", params={"email": signup.email})
                signup.answered_at = time.monotonic()
                signup.took = t.clock() - started

            await asyncio.gather(*(sign_up(s) for s in signups))
            await _settle(outbox, 2 * len(signups), WELCOME_SECONDS + 2.5)
            entries = list(outbox)

            def events(email: str) -> list[dict[str, Any]]:
                return [e for e in entries if e.get("email") == email]

            with t.step('POST /signup?email=... answers 200 or 202 with {"message": "Welcome!"}'):
                for s in signups:
                    assert s.response is not None
                    t.expect(s.response.status_code in (200, 202), expected=f"status 200 or 202 for {_show(s.email)}",
                             got=f"status {s.response.status_code}: {s.response.text[:200]}")
                    t.expect(s.response.json() == {"message": "Welcome!"}, expected='exactly {"message": "Welcome!"}',
                             got=_show(s.response.json()))

            with t.step(f"the answer comes well before the welcome message is sent (under {QUICK:g} s; "
                        f"sending takes {WELCOME_SECONDS:g} s)"):
                for s in signups:
                    early = [e for e in events(s.email) if e["event"] == "welcome" and e["at"] < s.answered_at]
                    t.expect(s.took < QUICK and not early,
                             expected=f"the response to {_show(s.email)} within {QUICK:g} s, before the welcome message",
                             got=f"{s.took:.2f} s" + (", after the welcome message was already sent" if early else "")
                                 + _cause(t))

            with t.step("the welcome message is sent after the response, once per sign-up"):
                for s in signups:
                    welcomes = [e for e in events(s.email) if e["event"] == "welcome"]
                    t.expect(len(welcomes) == 1,
                             expected=f"one welcome entry for {_show(s.email)} within {WELCOME_SECONDS + 2.5:g} s",
                             got=f"{len(welcomes)}; outbox events: {_show([(e['event'], e['email']) for e in entries])}"
                                 + _cause(t))

            with t.step("then the audit entry is written: welcome first, audit second, once each"):
                for s in signups:
                    mine = [e["event"] for e in events(s.email)]
                    advice = ""
                    if mine == ["welcome"]:
                        advice = ("\nNo audit entry at all. If you return a Response with background=..., "
                                  "it replaces the tasks added to the injected BackgroundTasks.")
                    t.expect(mine == ["welcome", "audit"],
                             expected=f'outbox events for {_show(s.email)}: ["welcome", "audit"], once each, in that order',
                             got=_show(mine) + advice + _cause(t))
