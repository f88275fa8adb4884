"""Chapter 05 demos: a chat room, the live-score feed, and named rooms, all on one Broadcast.

* ``/chat-room``: every text frame is sent to every connected client, sender included.
* ``/live-score``: subscribers only listen; ``POST /update-score?team=&score=``
  sends ``{"team": ..., "score": ...}`` to all of them.
* ``/rooms/{room}``: JSON ``{"text": ...}`` in, ``{"room": ..., "text": ...}`` out to that room.
* ``GET /rooms``: how many sockets each room holds right now (zombies would show up here).

Each socket is one subscriber with its own bounded queue and one writer task
(``realtime.writer.send_events``): a broadcast only queues, so a stalled
client never holds up the others; it is closed with TOO_SLOW and a reason.
The Broadcast belongs to the router's lifespan, so every app has its own.

Bad input never takes a route down: binary frames close with UNSUPPORTED_DATA,
frames over the size cap with MESSAGE_TOO_BIG, malformed JSON gets an error
frame and the connection stays open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, WebSocket
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from course_app.realtime.broadcast import Broadcast, Event
from course_app.realtime.codes import CloseCode
from course_app.realtime.frames import BadFrame, close, parse_json, receive_text, send_json
from course_app.realtime.tasks import first_completed
from course_app.realtime.writer import send_events

__all__ = ["CHAT", "MAX_FRAME", "QUEUE_SIZE", "SCORES", "SEND_TIMEOUT", "router"]

MAX_FRAME = 4096  # bytes per incoming frame; chat lines and commands are small
QUEUE_SIZE = 64  # messages a member may fall behind before it is closed with TOO_SLOW
SEND_TIMEOUT = 1.0  # seconds one send may wait on a client that does not read
CHAT, SCORES = "chat-room", "live-score"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    async with Broadcast("memory://", queue_size=QUEUE_SIZE, overflow="close") as broadcast:
        yield {"ch05_broadcast": broadcast}


router = APIRouter(tags=["ch05 rooms and broadcast"], lifespan=lifespan)


def get_broadcast(connection: HTTPConnection) -> Broadcast:
    """This app's chapter-05 Broadcast (made by the router's lifespan)."""
    broadcast: Broadcast = connection.state.ch05_broadcast
    return broadcast


Rooms = Annotated[Broadcast, Depends(get_broadcast)]


class _Closed(Exception):
    """The socket was closed (by the client, or by us for bad input)."""


async def _next_text(websocket: WebSocket) -> str:
    """The next text frame; a bad frame closes the socket with a named code and a reason."""
    try:
        return await receive_text(websocket, MAX_FRAME)
    except WebSocketDisconnect:
        raise _Closed from None
    except BadFrame as bad:
        await close(websocket, bad.code, bad.reason)
        raise _Closed from None


async def _publish(broadcast: Broadcast, channel: str, message: Any) -> int | None:
    delivered = await broadcast.publish(channel, message)
    await asyncio.sleep(0)  # let the writers run: a burst of frames must not starve them
    return delivered


def _plain(event: Event) -> str:
    return str(event.message)  # chat lines go out as the text that came in, not as JSON


async def _serve(
    websocket: WebSocket, broadcast: Broadcast, channel: str, read: Coroutine[Any, Any, None], *,
    render: Callable[[Event], str] | None = None,
) -> None:
    """Be a member of ``channel`` while ``read`` runs: its writer sends what the channel gets."""
    async with broadcast.subscribe(channel) as subscriber:
        writer = send_events(websocket, subscriber, render=render, send_timeout=SEND_TIMEOUT)
        try:
            await first_completed(writer, read)
        except _Closed:
            pass


@router.websocket("/chat-room")
async def chat_room(websocket: WebSocket, broadcast: Rooms) -> None:
    """Text in, the same text out to everyone in the room (sender included)."""
    await websocket.accept()

    async def read() -> None:
        while True:
            await _publish(broadcast, CHAT, await _next_text(websocket))

    await _serve(websocket, broadcast, CHAT, read(), render=_plain)


@router.websocket("/live-score")
async def live_score(websocket: WebSocket, broadcast: Rooms) -> None:
    """A listen-only feed. We still read: reading is how a handler notices the client left."""
    await websocket.accept()

    async def read() -> None:
        while True:
            await _next_text(websocket)
            await send_json(websocket, {"error": "this feed is listen-only; post scores to /update-score"})

    await _serve(websocket, broadcast, SCORES, read())


@router.post("/update-score")
async def update_score(
    team: Annotated[str, Query(min_length=1, max_length=40, description="team name")],
    score: Annotated[int, Query(ge=0, le=1000, description="points, a whole number from 0 to 1000")],
    broadcast: Rooms,
) -> dict[str, Any]:
    """Queue the new score for every subscriber; nobody is waited on, a stalled one is closed by its writer."""
    delivered = await broadcast.publish(SCORES, {"team": team, "score": score})
    return {"team": team, "score": score, "delivered": delivered}


@router.websocket("/rooms/{room}")
async def room_socket(websocket: WebSocket, room: str, broadcast: Rooms) -> None:
    """JSON chat in named rooms: ``{"text": "hi"}`` reaches every member of ``room``."""
    await websocket.accept()
    if not 1 <= len(room) <= 40:
        await close(websocket, CloseCode.POLICY_VIOLATION, "room names are 1 to 40 characters")
        return

    async def read() -> None:
        while True:
            error = await _one_room_message(websocket, broadcast, room)
            if error:
                await send_json(websocket, {"error": error})

    await _serve(websocket, broadcast, f"room:{room}", read())


async def _one_room_message(websocket: WebSocket, broadcast: Broadcast, room: str) -> str | None:
    """Handle one frame; returns an error text for the client, or None when all went well."""
    text = await _next_text(websocket)
    try:
        data = parse_json(text)
    except ValueError as err:
        return f'{err}; send {{"text": "..."}}'
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return 'expected an object with a string "text", e.g. {"text": "hello"}'
    await _publish(broadcast, f"room:{room}", {"room": room, "text": data["text"]})
    return None


@router.get("/rooms")
async def rooms(broadcast: Rooms) -> dict[str, Any]:
    """Live connection counts per room; after every client left, this is all zeros."""
    return {"total": broadcast.subscribers(), "rooms": broadcast.channels()}
