"""Correct: a pure function answers one text frame with one reply dict, using a
match statement for the shape; the handler reads raw ASGI messages itself."""

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


def answer(text: str) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except ValueError as err:
        return error("bad_json", str(err))
    match message:
        case {"cmd": str(name)}:
            pass
        case _:
            return error("bad_message", 'expected an object with a string "cmd"')
    if name not in COMMANDS:
        return error("unknown_command", f"no command called {name!r}")
    try:
        return {"type": "result", "cmd": name, "result": COMMANDS[name](message)}
    except BadArgs as err:
        return error("bad_args", str(err))


@app.websocket("/commands")
async def commands(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is None:
            await websocket.close(CloseCode.UNSUPPORTED_DATA, "this protocol speaks JSON in text frames")
            return
        await websocket.send_text(json.dumps(answer(message["text"])))
