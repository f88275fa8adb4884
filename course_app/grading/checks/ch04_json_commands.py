"""Check for ch04_json_commands: bad input gets an error frame or a named close, never a crash.

Real uvicorn, real ``websockets`` clients. The check sends the faults the
chapter is about: malformed JSON, JSON of the wrong shape, unknown commands,
arguments of the wrong type, a binary frame. The inputs are drawn anew on every
run from pools of each kind (empty and falsy values, whitespace, non-ASCII,
look-alike command names), every reply is checked (frame type and exact JSON
fields), and a bystander client proves the server keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import json
import random
from types import ModuleType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.grading.checker import T
from course_app.grading.checks._inputs import AWKWARD_WORDS, seeded
from course_app.grading.kit import learner_app, serve
from course_app.realtime.codes import CloseCode

BAD_JSON = ["{oops", "", "   ", "add 2 3", "{'cmd': 'add'}", '{"cmd": "add",}', "[1, 2", "nul", "ünïcödé",
            '{"cmd": "upper", "text": "hi"', "\t\n", "{cmd: add}"]
BAD_MESSAGE = ["[1, 2]", "[]", "42", "-0.5", '"add"', "null", "true", "false", "{}", '{"cmd": 5}', '{"cmd": null}',
               '{"cmd": ["add"]}', '{"cmd": {"name": "add"}}', '{"cmd": true}', '{"command": "add", "a": 1, "b": 2}',
               '[{"cmd": "add", "a": 1, "b": 2}]', '{"cmd": 0}', '{"cmd": false}']
UNKNOWN = ["divide", "", " add", "add ", "ADD", "Upper", "ädd", "upper\n", "keys", "sum", "échoue", "add upper"]
BAD_ARGS: list[dict[str, Any]] = [
    {"cmd": "add", "a": "2", "b": 3}, {"cmd": "add", "a": 1}, {"cmd": "add"}, {"cmd": "add", "a": True, "b": 1},
    {"cmd": "add", "a": None, "b": 1}, {"cmd": "add", "a": [1], "b": 2}, {"cmd": "add", "a": 1, "b": {"n": 2}},
    {"cmd": "upper"}, {"cmd": "upper", "text": 5}, {"cmd": "upper", "text": None}, {"cmd": "upper", "text": ["hi"]},
    {"cmd": "upper", "text": False},
]
_ERROR_KEYS = {"type", "error", "detail"}
_RESULT_KEYS = {"type", "cmd", "result"}


def _good(rng: random.Random) -> list[tuple[str, Any]]:
    """Valid commands for this run and the result each must give (zero, negatives, floats, awkward text)."""
    numbers: list[Any] = [0, -rng.randint(1, 10**6), rng.randint(1, 10**6), 2**53, round(rng.uniform(-100, 100), 3), 0.1]
    pairs = [(rng.choice(numbers), rng.choice(numbers)) for _ in range(5)] + [(0, 0), (0.1, 0.2)]
    words = rng.sample(AWKWARD_WORDS, 4) + ["", " hi there ", "straße 🙂"]
    good: list[tuple[str, Any]] = [(json.dumps({"cmd": "add", "a": a, "b": b}), a + b) for a, b in pairs]
    good += [(json.dumps({"cmd": "upper", "text": w}, ensure_ascii=rng.random() < 0.5), w.upper()) for w in words]
    good.append((json.dumps({"cmd": "add", "a": 2, "b": 3, "id": "extra fields are ignored"}), 5))
    good.append(("  " + json.dumps({"b": 4, "a": 38, "cmd": "add"}) + "\n", 42))  # whitespace around JSON is still JSON
    rng.shuffle(good)
    return good


def _shown(frame: str | bytes) -> str:
    return json.dumps(frame) if isinstance(frame, str) else f"a binary frame {frame[:40]!r}"


async def _answer(ws: ClientConnection, frame: str | bytes) -> Any:
    """Send one frame; the JSON reply, or a sentence saying why there was none."""
    try:
        await ws.send(frame)
        reply = await asyncio.wait_for(ws.recv(), 2)
    except ConnectionClosed as closed:
        if closed.rcvd is None:
            return "the connection dropped without a close frame (1006): did the handler crash?"
        return f"the server closed the connection (code {closed.rcvd.code}, reason {json.dumps(closed.rcvd.reason)})"
    except TimeoutError:
        return "no answer within 2 s"
    if isinstance(reply, bytes):
        return f"a binary frame ({len(reply)} bytes): send JSON as text, websocket.send_json(...)"
    try:
        return json.loads(reply)
    except ValueError:
        return f"a reply that is not JSON: {reply[:80]!r}"


def _expect_result(t: T, frame: str, reply: Any, result: Any) -> None:
    want = {"type": "result", "cmd": json.loads(frame)["cmd"], "result": result}
    ok = reply == want and isinstance(reply, dict) and set(reply) == _RESULT_KEYS
    ok = ok and type(reply["result"]) is type(result)  # 5, not 5.0 or "5"
    t.expect(ok, expected=f"for {_shown(frame)}: {json.dumps(want, ensure_ascii=False)}", got=reply)


def _expect_error(t: T, frame: str | bytes, reply: Any, kind: str) -> None:
    ok = (isinstance(reply, dict) and set(reply) == _ERROR_KEYS and reply["type"] == "error"
          and reply["error"] == kind and isinstance(reply["detail"], str) and bool(reply["detail"].strip()))
    t.expect(ok, got=reply, expected=f'for {_shown(frame)}: {{"type": "error", "error": "{kind}", "detail": "<what went wrong>"}}'
             " (exactly these three fields)")


async def _still_open(t: T, ws: ClientConnection, after: str, rng: random.Random) -> None:
    a, b = rng.randint(-50, 50), rng.randint(-50, 50)
    reply = await _answer(ws, json.dumps({"cmd": "add", "a": a, "b": b}))
    t.expect(reply == {"type": "result", "cmd": "add", "result": a + b},
             expected=f"the connection stays open after {after}: add {a} + {b} answers {a + b}", got=reply)


def _faults(rng: random.Random, k: int) -> dict[str, list[str]]:
    """k inputs of each kind of mistake, drawn for this run."""
    return {
        "bad_json": rng.sample(BAD_JSON, k),
        "bad_message": rng.sample(BAD_MESSAGE, k),
        "unknown_command": [json.dumps({"cmd": name, "a": 1, "b": 2, "text": "x"}, ensure_ascii=False)
                            for name in rng.sample(UNKNOWN, k)],
        "bad_args": [json.dumps(message) for message in rng.sample(BAD_ARGS, k)],
    }


async def check(learner: ModuleType, t: T) -> None:
    with seeded(t) as rng:
        await _check(learner, t, rng)


async def _check(learner: ModuleType, t: T, rng: random.Random) -> None:
    good = _good(rng)
    faults = _faults(rng, 5)
    async with serve(learner_app(learner)) as server:
        url = server.ws_url + "/commands"
        async with connect(url) as bystander, connect(url) as ws:
            with t.step("add and upper answer with result frames: exact JSON fields, as text frames"):
                for frame, result in good:
                    _expect_result(t, frame, await _answer(ws, frame), result)

            steps = {
                "bad_json": "malformed JSON gets a bad_json error frame, and the connection stays open",
                "bad_message": "JSON that is not an object with a string cmd gets a bad_message error frame",
                "unknown_command": "an unknown command gets an unknown_command error frame",
                "bad_args": "arguments of the wrong type get a bad_args error frame",
            }
            for kind, name in steps.items():
                with t.step(name):
                    for frame in faults[kind]:
                        _expect_error(t, frame, await _answer(ws, frame), kind)
                    await _still_open(t, ws, f"{kind} errors", rng)

            with t.step("a mixed stream of good and bad messages is answered message by message"):
                mixed: list[tuple[str, str | None, Any]] = [(f, None, r) for f, r in rng.sample(good, 4)]
                mixed += [(f, k, None) for k, frames in _faults(rng, 2).items() for f in frames]
                rng.shuffle(mixed)
                for frame, expected_kind, result in mixed:
                    reply = await _answer(ws, frame)
                    if expected_kind is None:
                        _expect_result(t, frame, reply, result)
                    else:
                        _expect_error(t, frame, reply, expected_kind)

            with t.step("a binary frame closes the connection with 1003 (unsupported data)"):
                # Often valid JSON, but in a binary frame: the frame type alone is the mistake.
                binary = rng.choice([json.dumps({"cmd": "add", "a": 1, "b": 1}).encode(), b"\x00\x01\xff", b"",
                                     "ünïcödé".encode()])
                reply = await _answer(ws, binary)
                t.expect(ws.close_code == CloseCode.UNSUPPORTED_DATA, got=reply,
                         expected=f"after {_shown(binary)}: the connection closed with code 1003")
            with t.step("the 1003 close comes with a reason that says what to send"):
                t.expect(bool((ws.close_reason or "").strip()), expected="a close reason (not empty)",
                         got=json.dumps(ws.close_reason))

            with t.step("the server keeps serving other clients"):
                await _still_open(t, bystander, "another client's mistakes", rng)
                async with connect(url) as newcomer:
                    await _still_open(t, newcomer, "another client's mistakes", rng)
                    frame = rng.choice(faults["bad_json"])
                    _expect_error(t, frame, await _answer(newcomer, frame), "bad_json")
