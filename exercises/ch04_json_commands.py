"""Chapter 04 exercise: a small JSON command protocol that never trusts its input.

The WebSocket route /commands takes one JSON object per text frame:

    {"cmd": "add", "a": 2, "b": 3}     ->  {"type": "result", "cmd": "add", "result": 5}
    {"cmd": "upper", "text": "hi"}     ->  {"type": "result", "cmd": "upper", "result": "HI"}

Goal: bad input gets an answer, never a crash.
  * These get an error frame, error(kind, detail), and the connection STAYS OPEN:
      "bad_json"         the text is not JSON at all
      "bad_message"      JSON, but not an object with a string "cmd"
      "unknown_command"  a "cmd" that is not in COMMANDS
      "bad_args"         the command raised BadArgs (arguments of the wrong type)
  * A binary frame is not part of the protocol: close the connection with
    CloseCode.UNSUPPORTED_DATA (1003) and a reason that says what to send instead.

Check it: run check("ch04_json_commands") in the notebook, or `course check ch04_json_commands`.
"""

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime import CloseCode  # noqa: F401 - you will need it

app = FastAPI()


class BadArgs(Exception):
    """A command got arguments it cannot use; the message says which."""


def add(message: dict[str, Any]) -> float:
    a, b = message.get("a"), message.get("b")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        raise BadArgs("add needs two numbers, a and b")
    return a + b


def upper(message: dict[str, Any]) -> str:
    text = message.get("text")
    if not isinstance(text, str):
        raise BadArgs("upper needs a string, text")
    return text.upper()


COMMANDS: dict[str, Callable[[dict[str, Any]], Any]] = {"add": add, "upper": upper}


def error(kind: str, detail: str) -> dict[str, str]:
    """An error frame: the client learns what went wrong and can try again."""
    return {"type": "error", "error": kind, "detail": detail}


async def next_frame(websocket: WebSocket) -> str | bytes:
    """The next frame: str for a text frame, bytes for a binary one."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    if message.get("text") is not None:
        return message["text"]
    return message.get("bytes") or b""


@app.websocket("/commands")
async def commands(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            frame = await next_frame(websocket)
            # TODO: a binary frame (bytes) is not part of the protocol: close with
            #       CloseCode.UNSUPPORTED_DATA and a reason, then return.
            # TODO: answer bad input with an error frame and `continue` (the connection
            #       stays open): "bad_json", "bad_message", "unknown_command", "bad_args".
            message = json.loads(frame)
            name = message["cmd"]
            result = COMMANDS[name](message)
            await websocket.send_json({"type": "result", "cmd": name, "result": result})
    except WebSocketDisconnect:
        pass  # the client left
