"""Check for ch07_first_message_auth: attack the learner's /secure route for real.

Real uvicorn, real ``websockets`` clients, real signed tokens. The check sends
what an attacker sends: nothing at all, a first message dripped in slowly, a
message before the token, malformed first messages, forged and expired tokens.
A bystander that authenticated first must be served throughout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import ModuleType

from websockets.asyncio.client import connect

from course_app.grading.checker import T
from course_app.grading.checks._ws_outcome import Outcome, attempt, ending
from course_app.grading.kit import learner_app, serve
from course_app.realtime.codes import CloseCode
from course_app.security.forgery import forged_tokens
from course_app.security.tokens import issue_token

DEADLINE = 0.6  # the check's AUTH_TIMEOUT
WAIT = DEADLINE * 5  # how long a client waits for the close (a wide margin on a busy machine)

MALFORMED: dict[str, str | bytes] = {
    "a binary frame": json.dumps({"token": "x"}).encode(),
    "text that is not JSON": "let me in",
    "a JSON list": json.dumps([{"token": "x"}]),
    "an object without a token": json.dumps({"user": "alice"}),
    "a token that is not a string": json.dumps({"token": 12345}),
}


def _closed(outcome: Outcome, code: CloseCode) -> bool:
    return outcome.code == code and not outcome.frames


async def _drip(text: str, pause: float) -> AsyncIterator[str]:
    for char in text:
        yield char
        await asyncio.sleep(pause)


async def _dripped(url: str) -> Outcome:
    """Send a valid first message one fragment at a time, slower than the deadline allows."""
    async with connect(url, ping_interval=None) as ws:
        message = json.dumps({"token": issue_token("alice")})
        sender = asyncio.create_task(ws.send(_drip(message, DEADLINE / 4)))
        try:
            return await ending(ws, WAIT)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)


async def check(learner: ModuleType, t: T) -> None:
    setattr(learner, "AUTH_TIMEOUT", DEADLINE)
    async with serve(learner_app(learner)) as server:
        url = server.ws_url + "/secure"
        good = json.dumps({"token": issue_token("alice")})

        async with connect(url, ping_interval=None) as bystander:
            with t.step('a valid token first gets {"status": "authenticated", "user": ...}, then each message an echo'):
                await bystander.send(good)
                await bystander.send("hello")  # sent at once: the reply order still puts auth first
                replies = []
                for _ in range(2):
                    try:
                        replies.append(json.loads(await asyncio.wait_for(bystander.recv(), WAIT)))
                    except (TimeoutError, ValueError, TypeError) as err:
                        t.fail(f"expected two JSON replies; reading reply {len(replies) + 1} gave {type(err).__name__}")
                t.expect(replies[0] == {"status": "authenticated", "user": "alice"}, got=replies[0],
                         expected='{"status": "authenticated", "user": "alice"} as the first reply')
                t.expect(replies[1] == {"type": "echo", "user": "alice", "text": "hello"}, got=replies[1],
                         expected='{"type": "echo", "user": "alice", "text": "hello"}')

            with t.step("a message sent before the token is not processed: the connection closes with 1008"):
                chat = json.dumps({"type": "chat", "text": "hello"})  # valid JSON, just not a token
                early = await attempt(url, first=chat, then=[good, "hello again"], wait=WAIT)
                t.expect(_closed(early, CloseCode.POLICY_VIOLATION), got=early.describe(),
                         expected="no reply at all, and a close with code 1008 (policy violation)")

            with t.step("no credentials within the deadline closes with 4002"):
                silent, dripped = await asyncio.gather(attempt(url, wait=WAIT), _dripped(url))
                t.expect(_closed(silent, CloseCode.AUTH_TIMEOUT), got=silent.describe(),
                         expected=f"a client that sends nothing is closed with 4002 within {WAIT:g} s "
                                  f"(AUTH_TIMEOUT was set to {DEADLINE:g} s)")
                t.expect(_closed(dripped, CloseCode.AUTH_TIMEOUT), got=dripped.describe(),
                         expected="a first message dripped in slower than the deadline is closed with 4002 too")

            with t.step("a malformed first message closes with 1008"):
                for name, frame in MALFORMED.items():
                    outcome = await attempt(url, first=frame, wait=WAIT)
                    t.expect(_closed(outcome, CloseCode.POLICY_VIOLATION), got=outcome.describe(),
                             expected=f"{name} as the first message: a close with code 1008")

            with t.step("a bad token closes with 4001"):
                forged = {k: v for k, v in forged_tokens().items() if v}  # "" is left to the learner's taste
                outcomes = await asyncio.gather(*(attempt(url, first=json.dumps({"token": v}), wait=WAIT)
                                                  for v in forged.values()))
                for name, outcome in zip(forged, outcomes):
                    t.expect(_closed(outcome, CloseCode.UNAUTHORIZED), got=outcome.describe(),
                             expected=f"a bad token ({name}): a close with code 4001, and no reply before it")

            with t.step("every close carries a reason the client can act on"):
                for outcome in [early, silent, *outcomes]:
                    t.expect(bool(outcome.reason), got=outcome.describe(), expected="a close reason (not empty)")

            with t.step("an authenticated session outlives the auth deadline"):
                await asyncio.sleep(DEADLINE * 2)
                await bystander.send("still here")
                try:
                    reply = json.loads(await asyncio.wait_for(bystander.recv(), WAIT))
                except Exception as err:  # noqa: BLE001 - say what happened, whatever it was
                    end = await ending(bystander, 0.1)
                    t.fail(f"the session that authenticated first is gone ({type(err).__name__}): {end.describe()}. "
                           "The deadline must cover the first message only.")
                t.expect(reply == {"type": "echo", "user": "alice", "text": "still here"}, got=reply,
                         expected='{"type": "echo", "user": "alice", "text": "still here"}')

            with t.step("the server keeps serving new clients after all that"):
                fresh = await attempt(url, first=json.dumps({"token": issue_token("bob")}), then=["hi"], wait=1.0)
                replies = [json.loads(f) for f in fresh.frames if isinstance(f, str)]
                t.expect(replies[:2] == [{"status": "authenticated", "user": "bob"},
                                         {"type": "echo", "user": "bob", "text": "hi"}],
                         got=fresh.describe(), expected="bob authenticates and gets his echo")
