"""Forgives sloppy command names with strip().lower(): " ADD " runs add. The
protocol says a cmd that is not in COMMANDS is unknown; a server that guesses
teaches clients to rely on the guess.

Fails: an unknown command gets an unknown_command error frame
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
            # A frame of the wrong type means the client speaks another protocol:
            # there is nothing useful to answer, so close with a named code and a
            # reason. (json.loads would happily parse bytes, so check the type first.)
            if isinstance(frame, bytes):
                await websocket.close(CloseCode.UNSUPPORTED_DATA, "send JSON as text frames, not binary")
                return
            # Everything else is a mistake the client can fix: say what it was in an
            # error frame and wait for the next frame. One bad message must not cost
            # the client its connection (and never crashes the handler).
            try:
                message = json.loads(frame)
            except json.JSONDecodeError as err:
                await websocket.send_json(error("bad_json", f"{err.msg} at column {err.colno}"))
                continue
            if not isinstance(message, dict) or not isinstance(message.get("cmd"), str):
                await websocket.send_json(error("bad_message", 'send an object like {"cmd": "add", "a": 1, "b": 2}'))
                continue
            name = message["cmd"].strip().lower()
            command = COMMANDS.get(name)
            if command is None:
                await websocket.send_json(error("unknown_command", f"{name!r} is not a command; try one of {sorted(COMMANDS)}"))
                continue
            try:
                result = command(message)
            except BadArgs as err:
                await websocket.send_json(error("bad_args", str(err)))
                continue
            await websocket.send_json({"type": "result", "cmd": name, "result": result})
    except WebSocketDisconnect:
        pass  # the client left
