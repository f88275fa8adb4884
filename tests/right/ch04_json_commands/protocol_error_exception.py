"""Correct: each mistake raises a ProtocolError(kind, detail) from a parse step,
and one except clause turns it into the error frame."""

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


class ProtocolError(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def parse(frame: str) -> tuple[str, dict[str, Any]]:
    try:
        message = json.loads(frame)
    except json.JSONDecodeError as err:
        raise ProtocolError("bad_json", err.msg) from None
    if type(message) is not dict or type(message.get("cmd")) is not str:
        raise ProtocolError("bad_message", "need a JSON object with a string cmd")
    if message["cmd"] not in COMMANDS:
        raise ProtocolError("unknown_command", "unknown cmd; known: " + ", ".join(COMMANDS))
    return message["cmd"], message


@app.websocket("/commands")
async def commands(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            frame = await next_frame(websocket)
            if type(frame) is bytes:
                await websocket.close(code=CloseCode.UNSUPPORTED_DATA, reason="binary frames are not accepted: send text")
                break
            try:
                name, message = parse(frame)
                try:
                    result = COMMANDS[name](message)
                except BadArgs as err:
                    raise ProtocolError("bad_args", str(err)) from err
            except ProtocolError as problem:
                await websocket.send_json(error(problem.kind, str(problem)))
            else:
                await websocket.send_json({"type": "result", "cmd": name, "result": result})
    except WebSocketDisconnect:
        return
