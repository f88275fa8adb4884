"""Check for ch04_json_commands: bad input gets an error frame or a named close, never a crash.

Real uvicorn, real ``websockets`` clients. The check sends the faults the
chapter is about: malformed JSON, JSON of the wrong shape, unknown commands,
arguments of the wrong type, a binary frame; and a bystander client proves the
server keeps serving everyone else.
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


async def _answer(ws: ClientConnection, frame: str | bytes) -> Any:
    """Send one frame; the JSON reply, or a sentence saying why there was none."""
    try:
        await ws.send(frame)
        reply = await asyncio.wait_for(ws.recv(), 2)
    except ConnectionClosed as closed:
        if closed.rcvd is None:
            return "the connection dropped without a close frame (1006): did the handler crash?"
        return f"the server closed the connection (code {closed.rcvd.code}, reason {closed.rcvd.reason!r})"
    except TimeoutError:
        return "no answer within 2 s"
    try:
        return json.loads(reply)
    except (TypeError, ValueError):
        return f"a reply that is not JSON text: {reply!r:.80}"


def _is_error(reply: Any, kind: str) -> bool:
    return (isinstance(reply, dict) and reply.get("type") == "error" and reply.get("error") == kind
            and isinstance(reply.get("detail"), str) and bool(reply["detail"]))


async def _still_open(t: T, ws: ClientConnection, after: str) -> None:
    reply = await _answer(ws, json.dumps({"cmd": "add", "a": 20, "b": 22}))
    t.expect(reply == {"type": "result", "cmd": "add", "result": 42},
             expected=f"the connection stays open after {after}: add 20 + 22 answers 42", got=reply)


async def check(learner: ModuleType, t: T) -> None:
    async with serve(learner_app(learner)) as server:
        url = server.ws_url + "/commands"
        async with connect(url) as bystander, connect(url) as ws:
            with t.step("add and upper answer with result frames"):
                reply = await _answer(ws, json.dumps({"cmd": "add", "a": 2, "b": 3}))
                t.expect(reply == {"type": "result", "cmd": "add", "result": 5},
                         expected='{"type": "result", "cmd": "add", "result": 5}', got=reply)
                reply = await _answer(ws, json.dumps({"cmd": "upper", "text": "hi"}))
                t.expect(reply == {"type": "result", "cmd": "upper", "result": "HI"},
                         expected='{"type": "result", "cmd": "upper", "result": "HI"}', got=reply)

            with t.step("malformed JSON gets a bad_json error frame, and the connection stays open"):
                for text in ["{oops", "", "add 2 3"]:
                    reply = await _answer(ws, text)
                    t.expect(_is_error(reply, "bad_json"), got=reply,
                             expected=f'for {text!r}: {{"type": "error", "error": "bad_json", "detail": "..."}}')
                await _still_open(t, ws, "malformed JSON")

            with t.step("JSON that is not a command object gets a bad_message error frame"):
                for text in ["[1, 2]", "42", '"add"', "{}", '{"cmd": 5}']:
                    reply = await _answer(ws, text)
                    t.expect(_is_error(reply, "bad_message"), got=reply,
                             expected=f'for {text}: {{"type": "error", "error": "bad_message", "detail": "..."}}')
                await _still_open(t, ws, "a message of the wrong shape")

            with t.step("an unknown command gets an unknown_command error frame"):
                reply = await _answer(ws, json.dumps({"cmd": "divide", "a": 1, "b": 0}))
                t.expect(_is_error(reply, "unknown_command"), got=reply,
                         expected='{"type": "error", "error": "unknown_command", "detail": "..."}')
                await _still_open(t, ws, "an unknown command")

            with t.step("arguments of the wrong type get a bad_args error frame"):
                for message in [{"cmd": "add", "a": "2", "b": 3}, {"cmd": "upper"}]:
                    reply = await _answer(ws, json.dumps(message))
                    t.expect(_is_error(reply, "bad_args"), got=reply,
                             expected=f'for {json.dumps(message)}: {{"type": "error", "error": "bad_args", "detail": "..."}}')
                await _still_open(t, ws, "bad arguments")

            with t.step("a binary frame closes the connection with 1003 (unsupported data)"):
                # Valid JSON, but in a binary frame: the frame type alone is the mistake.
                reply = await _answer(ws, json.dumps({"cmd": "add", "a": 1, "b": 1}).encode())
                closed = ws.close_code
                t.expect(closed == CloseCode.UNSUPPORTED_DATA, got=reply,
                         expected="the connection closed with code 1003")
            with t.step("the 1003 close comes with a reason that says what to send"):
                t.expect(bool(ws.close_reason), expected="a close reason (not empty)", got=repr(ws.close_reason))

            with t.step("the server keeps serving other clients"):
                await _still_open(t, bystander, "another client's mistakes")
                async with connect(url) as newcomer:
                    await _still_open(t, newcomer, "another client's mistakes")
