"""Check for ch07_origin_check: hijack the learner's /feed from every origin an attacker can get.

Real uvicorn, real ``websockets`` clients sending the Origin headers a browser
would send from the attacker's page (and a few no browser sends, which must be
refused all the same). Each attempt carries the victim's cookie, as a browser would.
"""

from __future__ import annotations

import asyncio
import json
from types import ModuleType

from course_app.grading.checker import T
from course_app.grading.checks._ws_outcome import Outcome, attempt
from course_app.grading.kit import learner_app, serve

OURS = ["https://app.example.com", "http://localhost:8000"]
COOKIE = {"Cookie": "session=alice"}
WAIT = 3.0

ANOTHER_SITE = ["https://evil.test", "http://attacker.example"]
LOOK_ALIKES = [
    "https://app.example.com.evil.test",
    "https://evil-app.example.com",
    "https://notapp.example.com",
    "https://app.example.co",
    "https://app.example",
    "http://localhost:8000.evil.test",
]
SCHEME_AND_PORT = [
    "http://app.example.com",
    "https://app.example.com:8443",
    "https://app.example.com:443",
    "wss://app.example.com",
    "http://localhost:8001",
    "http://localhost:800",
    "https://localhost:8000",
    "http://localhost",
]
# Browsers serialize an Origin in lowercase (RFC 6454 section 6.2) and host names are case-insensitive
# (RFC 4343), so "HTTPS://APP.EXAMPLE.COM" names our own origin: refusing it and lowercasing before the
# exact comparison are both safe, and the check accepts either. "null" (sandboxed frames, file: pages,
# some redirects) is never one of our pages.
NULL = ["null"]


def _inbox(outcome: Outcome) -> bool:
    if outcome.http_status is not None or not outcome.frames or not isinstance(outcome.frames[0], str):
        return False
    try:
        first = json.loads(outcome.frames[0])
    except ValueError:
        return False
    return isinstance(first, dict) and first.get("type") == "inbox" and first.get("user") == "alice"


async def _tries(url: str, origins: list[str | None]) -> list[Outcome]:
    return list(await asyncio.gather(*(attempt(url, origin=o, headers=COOKIE, wait=0.5 if o in OURS else WAIT)
                                       for o in origins)))


async def _refused(t: T, url: str, origins: list[str | None], what: str) -> None:
    for origin, outcome in zip(origins, await _tries(url, origins)):
        shown = "no Origin header" if origin is None else f"Origin: {origin}"
        t.expect(outcome.http_status == 403, got=outcome.describe(),
                 expected=f"{what}: {shown} is refused at the handshake with HTTP 403 (close before accept)")


async def check(learner: ModuleType, t: T) -> None:
    async with serve(learner_app(learner)) as server:
        url = server.ws_url + "/feed"

        with t.step("our own pages get the feed"):
            for origin, outcome in zip(OURS, await _tries(url, list(OURS))):
                t.expect(_inbox(outcome), got=outcome.describe(),
                         expected=f'Origin: {origin} connects and gets {{"type": "inbox", "user": "alice", ...}} first')

        with t.step("a page on another site is refused at the handshake (HTTP 403)"):
            await _refused(t, url, list(ANOTHER_SITE), "another site")

        with t.step("look-alike origins are refused (exact match, not startswith/endswith/in)"):
            await _refused(t, url, list(LOOK_ALIKES), "a look-alike")

        with t.step("another scheme or port is another origin, and is refused"):
            await _refused(t, url, list(SCHEME_AND_PORT), "scheme and port count")

        with t.step("the null Origin is refused"):
            await _refused(t, url, list(NULL), "not a page of ours")

        with t.step("a missing Origin is refused (this route's stated policy)"):
            await _refused(t, url, [None], "a non-browser client")

        with t.step("our pages still get the feed after all that"):
            outcome = (await _tries(url, [OURS[0]]))[0]
            t.expect(_inbox(outcome), got=outcome.describe(), expected=f"Origin: {OURS[0]} still gets the inbox")
