"""Chapter 05 demos: a chat room, the live-score feed, and named rooms.

* ``/chat-room``: every text frame is sent to every connected client, sender included.
* ``/live-score``: subscribers only listen; ``POST /update-score?team=&score=``
  sends ``{"team": ..., "score": ...}`` to all of them.
* ``/rooms/{room}``: JSON ``{"text": ...}`` in, ``{"room": ..., "text": ...}`` out to that room.
* ``GET /rooms``: how many sockets each room holds right now (zombies show up here).

Bad input never takes a route down: binary frames close with UNSUPPORTED_DATA,
frames over the size cap with MESSAGE_TOO_BIG, malformed JSON gets an error
frame and the connection stays open.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket
from starlette.websockets import WebSocketDisconnect

from course_app.realtime.codes import CloseCode
from course_app.realtime.frames import BadFrame, receive_text
from course_app.realtime.manager import RoomManager

__all__ = ["MAX_FRAME", "manager", "router"]

router = APIRouter(tags=["ch05 rooms and broadcast"])
manager = RoomManager(send_timeout=1.0)

MAX_FRAME = 4096  # bytes per incoming frame; chat lines and commands are small
CHAT, SCORES = "chat-room", "live-score"


class _Closed(Exception):
    """The socket was closed (by the client, or by us for bad input)."""


async def _next_text(websocket: WebSocket) -> str:
    """The next text frame; a bad frame closes the socket with a named code and a reason."""
    try:
        return await receive_text(websocket, MAX_FRAME)
    except WebSocketDisconnect:
        raise _Closed from None
    except BadFrame as bad:
        await websocket.close(bad.code, bad.reason)
        raise _Closed from None


@router.websocket("/chat-room")
async def chat_room(websocket: WebSocket) -> None:
    """Text in, the same text out to everyone in the room (sender included)."""
    await websocket.accept()
    async with manager.joined(CHAT, websocket):
        try:
            while True:
                await manager.broadcast_text(CHAT, await _next_text(websocket))
        except (_Closed, WebSocketDisconnect):
            pass


@router.websocket("/live-score")
async def live_score(websocket: WebSocket) -> None:
    """A listen-only feed. We still read: reading is how a handler notices the client left."""
    await websocket.accept()
    async with manager.joined(SCORES, websocket):
        try:
            while True:
                await _next_text(websocket)
                await websocket.send_json({"error": "this feed is listen-only; post scores to /update-score"})
        except (_Closed, WebSocketDisconnect):
            pass


@router.post("/update-score")
async def update_score(
    team: Annotated[str, Query(min_length=1, max_length=40, description="team name")],
    score: Annotated[int, Query(ge=0, le=1000, description="points, a whole number from 0 to 1000")],
) -> dict[str, Any]:
    """Send the new score to every subscriber; a dead or slow one is dropped, not waited on."""
    delivered = await manager.broadcast_json(SCORES, {"team": team, "score": score})
    return {"team": team, "score": score, "delivered": delivered}


@router.websocket("/rooms/{room}")
async def room_socket(websocket: WebSocket, room: str) -> None:
    """JSON chat in named rooms: ``{"text": "hi"}`` reaches every member of ``room``."""
    await websocket.accept()
    if not 1 <= len(room) <= 40:
        await websocket.close(CloseCode.POLICY_VIOLATION, "room names are 1 to 40 characters")
        return
    async with manager.joined(f"room:{room}", websocket):
        try:
            while True:
                error = await _one_room_message(websocket, room)
                if error:
                    await websocket.send_json({"error": error})
        except (_Closed, WebSocketDisconnect):
            pass


async def _one_room_message(websocket: WebSocket, room: str) -> str | None:
    """Handle one frame; returns an error text for the client, or None when all went well."""
    text = await _next_text(websocket)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return f"malformed JSON ({err.msg} at position {err.pos}); send {{\"text\": \"...\"}}"
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return 'expected an object with a string "text", e.g. {"text": "hello"}'
    await manager.broadcast_json(f"room:{room}", {"room": room, "text": data["text"]})
    return None


@router.get("/rooms")
async def rooms() -> dict[str, Any]:
    """Live connection counts per room; after every client left, this is all zeros."""
    return {"total": manager.count(), "rooms": manager.rooms()}
