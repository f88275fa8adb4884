"""Replay with Redis Streams: a client that comes back with the last id it saw misses nothing.

``/replay/ws`` greets with ``{"type": "hello", "pid": <worker pid>}`` and then sends
every entry of the channel as ``{"id": <stream id>, "text": ..., "from_pid": ...}``.
``/replay/ws?last_id=<id>`` first sends every entry after that id (the ones the client
missed), then the live ones: no gap, no repeat. ``POST /replay/publish?text=``
appends an entry (XADD MAXLEN ~); while Redis is down it answers 503 with the
reason (nothing was stored: send it again).

Needs REDIS_URL (a ``Cluster`` sets it): without Redis there is no stream to replay,
and the routes say so (503, or close 1013).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, WebSocket, WebSocketDisconnect, status
from starlette.requests import HTTPConnection

from course_app.realtime.broadcast import Broadcast, BroadcastUnavailable, Event
from course_app.realtime.codes import CloseCode
from course_app.realtime.frames import BadFrame, close, receive_text
from course_app.realtime.tasks import first_completed
from course_app.realtime.writer import send_events

__all__ = ["CHANNEL", "QUEUE_SIZE", "router"]

CHANNEL = "course:replay"
MAX_MESSAGE_BYTES = 4096
QUEUE_SIZE = 4096  # a resumed client may have this many entries to catch up on
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
NO_REDIS = "replay needs Redis Streams: set REDIS_URL (a Cluster does) and restart the server"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    url = os.environ.get("REDIS_URL")
    if not url:
        yield {"replay_broadcast": None}
        return
    scheme, _, rest = url.partition("://")
    streams_url = f"{scheme}-streams://{rest}"  # redis:// -> redis-streams://, rediss:// -> rediss-streams://
    async with Broadcast(streams_url, queue_size=QUEUE_SIZE) as broadcast:
        yield {"replay_broadcast": broadcast}


router = APIRouter(prefix="/replay", tags=["ch08"], lifespan=lifespan)


def _render(event: Event) -> str:
    return json.dumps({**event.message, "id": event.id}, separators=(",", ":"))


@router.websocket("/ws")
async def replay_ws(websocket: WebSocket, last_id: str | None = None) -> None:
    await websocket.accept()
    broadcast: Broadcast | None = websocket.state.replay_broadcast
    if broadcast is None:
        await close(websocket, CloseCode.TRY_AGAIN_LATER, NO_REDIS)
        return
    if last_id is not None and not STREAM_ID.fullmatch(last_id):
        await close(websocket, CloseCode.POLICY_VIOLATION, "last_id must be a stream id such as 1700000000000-0")
        return
    try:
        async with broadcast.subscribe(CHANNEL, last_id) as subscriber:
            await websocket.send_json({"type": "hello", "pid": os.getpid()})

            async def until_gone() -> None:  # reading is how a send-only route notices the client left
                try:
                    while True:
                        await receive_text(websocket, MAX_MESSAGE_BYTES)
                except WebSocketDisconnect:
                    pass
                except BadFrame as bad:
                    await close(websocket, bad.code, bad.reason)

            await first_completed(send_events(websocket, subscriber, render=_render), until_gone())
    except BroadcastUnavailable as down:
        await close(websocket, down.code, "Redis is unavailable; reconnect with your last id in a moment")


@router.post("/publish")
async def replay_publish(text: Annotated[str, Query(max_length=MAX_MESSAGE_BYTES)],
                         connection: HTTPConnection) -> dict[str, Any]:
    """Append ``text`` to the stream; 503 (not stored: send it again) while Redis is down."""
    broadcast: Broadcast | None = connection.state.replay_broadcast
    if broadcast is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=NO_REDIS)
    try:
        await broadcast.publish(CHANNEL, {"text": text, "from_pid": os.getpid()})
    except BroadcastUnavailable as down:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=down.reason, headers={"Retry-After": "1"}) from None
    return {"stored": True, "pid": os.getpid()}
