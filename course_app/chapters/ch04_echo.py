"""Chapter 04: WebSocket echo routes, at the paths and replies of the classic tutorials.

| route              | a text frame ``hi`` gets     |
|--------------------|------------------------------|
| ``/ws``            | ``You said: hi``             |
| ``/ws/{client_id}``| ``Message received: hi``     |
| ``/ws/echo``       | ``Server Echo: hi``          |
| ``/chat``          | ``You said: hi``             |
| ``/ws/frames``     | the same frame back, text as text and bytes as bytes |
| ``/ws/json``       | ``{"echo": <value>, "json_type": "<type>"}``; bad JSON gets an error frame |

Bad input never crashes a handler, and every close carries a named code and a reason:

* a binary frame where text is expected: ``CloseCode.UNSUPPORTED_DATA`` (1003);
* a frame over ``MAX_MESSAGE_BYTES`` (64 KiB): ``CloseCode.MESSAGE_TOO_BIG`` (1009);
* malformed JSON on ``/ws/json``: an error frame, and the connection stays open.

``client_id`` is matched with the course's ``id`` converter (1 to 18 digits,
see ``course_app.limits``), so ``/ws/secure`` and other ``/ws/<word>`` routes of
later chapters are never swallowed by this one, and a 5,000-digit id is simply
not a route (Starlette's ``int`` converter would crash converting it: a 500).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from course_app import limits  # noqa: F401  (registers the "id" path converter used below)
from course_app.realtime.frames import BadFrame, close, dumps_json, parse_json, receive_frame, receive_text, send_text

__all__ = ["MAX_MESSAGE_BYTES", "router"]

MAX_MESSAGE_BYTES = 64 * 1024  # OWASP suggests 64 KB or less; uvicorn alone allows 16 MiB (see limits.py)

router = APIRouter(tags=["ch04 echo"])


async def _text_loop(websocket: WebSocket, reply: Callable[[str], str]) -> None:
    """Accept, then answer every text frame with ``reply(text)`` until the client leaves."""
    await websocket.accept()
    try:
        while True:
            text = await receive_text(websocket, MAX_MESSAGE_BYTES)
            if not await send_text(websocket, reply(text)):
                return  # the client left while we answered
    except WebSocketDisconnect:
        pass  # the client left; nothing to clean up on these stateless routes
    except BadFrame as bad:
        await close(websocket, bad.code, bad.reason)


# Fixed paths first: "/ws/echo" must not be read as a client id (the int converter
# also guarantees that, but the order documents the intent).


@router.websocket("/ws")
async def ws_you_said(websocket: WebSocket) -> None:
    await _text_loop(websocket, lambda text: f"You said: {text}")


@router.websocket("/ws/echo")
async def ws_server_echo(websocket: WebSocket) -> None:
    await _text_loop(websocket, lambda text: f"Server Echo: {text}")


@router.websocket("/ws/frames")
async def ws_frames(websocket: WebSocket) -> None:
    """Each frame comes back in its own type: text as text, bytes as bytes."""
    await websocket.accept()
    try:
        while True:
            frame = await receive_frame(websocket, MAX_MESSAGE_BYTES)
            if isinstance(frame, bytes):
                await websocket.send_bytes(frame)
            elif not await send_text(websocket, frame):
                return
    except WebSocketDisconnect:
        pass
    except BadFrame as bad:
        await close(websocket, bad.code, bad.reason)


_JSON_TYPES: dict[type, str] = {dict: "object", list: "array", str: "string", bool: "boolean",
                                int: "number", float: "number", type(None): "null"}


@router.websocket("/ws/json")
async def ws_json(websocket: WebSocket) -> None:
    """Parse each text frame as JSON and say what it was; malformed JSON gets an error frame."""
    await websocket.accept()
    try:
        while True:
            text = await receive_text(websocket, MAX_MESSAGE_BYTES)
            try:
                value = parse_json(text)
                reply = dumps_json({"echo": value, "json_type": _JSON_TYPES[type(value)]})
            except ValueError as err:
                reply = dumps_json({"error": "bad_json", "detail": str(err)})
            if not await send_text(websocket, reply):
                return
    except WebSocketDisconnect:
        pass
    except BadFrame as bad:
        await close(websocket, bad.code, bad.reason)


@router.websocket("/ws/{client_id:id}")
async def ws_client(websocket: WebSocket, client_id: int) -> None:
    await _text_loop(websocket, lambda text: f"Message received: {text}")


@router.websocket("/chat")
async def chat(websocket: WebSocket) -> None:
    await _text_loop(websocket, lambda text: f"You said: {text}")
