"""A broadcast channel that spans every worker when REDIS_URL is set (chapter 08's subject).

``/scale/ws`` greets each client with ``{"type": "hello", "pid": <worker pid>}``;
every text a client sends, and every ``POST /scale/publish?text=``, reaches every
client on every worker as ``{"type": "message", "text": ..., "from_pid": ..., "pid": ...}``.
Without REDIS_URL the broadcast is local to one process: the multi-worker mirage.

During a Redis outage ``POST /scale/publish`` answers 503 with the reason and a
client that sends is closed with TRY_AGAIN_LATER (1013) and the reason; the
listener reconnects and resubscribes on its own. A client that cannot keep up
is closed with TOO_SLOW (4004) and a reason, never left waiting in silence.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, WebSocket, WebSocketDisconnect, status
from starlette.requests import HTTPConnection

from course_app.realtime.broadcast import Broadcast, BroadcastUnavailable, Event
from course_app.realtime.frames import BadFrame, close, receive_text
from course_app.realtime.tasks import first_completed
from course_app.realtime.writer import send_events

__all__ = ["CHANNEL", "MAX_MESSAGE_BYTES", "QUEUE_SIZE", "router"]

CHANNEL = "course:scale"
MAX_MESSAGE_BYTES = 4096
QUEUE_SIZE = 256  # messages a client may fall behind before it is closed with TOO_SLOW


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """One Broadcast per app: Redis Pub/Sub when REDIS_URL is set (start-up fails, saying so, if it does not answer)."""
    async with Broadcast(os.environ.get("REDIS_URL") or "memory://", queue_size=QUEUE_SIZE) as broadcast:
        yield {"scale_broadcast": broadcast}


router = APIRouter(prefix="/scale", tags=["scaling"], lifespan=lifespan)


def get_broadcast(connection: HTTPConnection) -> Broadcast:
    broadcast: Broadcast = connection.state.scale_broadcast
    return broadcast


Channel = Annotated[Broadcast, Depends(get_broadcast)]


@functools.lru_cache(maxsize=16)
def _with_pid(event: Event) -> str:
    """The event as this worker sends it; computed once per event, not once per client."""
    return json.dumps({**event.message, "pid": os.getpid()}, separators=(",", ":"))


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "text": text, "from_pid": os.getpid()}


@router.websocket("/ws")
async def scale_ws(websocket: WebSocket, broadcast: Channel) -> None:
    await websocket.accept()
    async with broadcast.subscribe(CHANNEL) as subscriber:
        await websocket.send_json({"type": "hello", "pid": os.getpid()})

        async def relay() -> None:
            try:
                while True:
                    text = await receive_text(websocket, MAX_MESSAGE_BYTES)
                    await broadcast.publish(CHANNEL, _message(text))
                    await asyncio.sleep(0)  # let the writer run: a burst of frames must not starve it
            except WebSocketDisconnect:
                pass
            except BadFrame as bad:
                await close(websocket, bad.code, bad.reason)
            except BroadcastUnavailable as down:
                await close(websocket, down.code, "not sent: Redis is unavailable; reconnect in a moment")

        await first_completed(send_events(websocket, subscriber, render=_with_pid), relay())


@router.post("/publish")
async def scale_publish(text: Annotated[str, Query(max_length=MAX_MESSAGE_BYTES)], broadcast: Channel) -> dict[str, Any]:
    """Broadcast ``text``; ``receivers`` counts workers (Redis) or local clients (no Redis)."""
    try:
        receivers = await broadcast.publish(CHANNEL, _message(text))
    except BroadcastUnavailable as down:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=down.reason, headers={"Retry-After": "1"}) from None
    return {"receivers": receivers, "pid": os.getpid()}
