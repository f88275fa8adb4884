"""The multi-worker mirage: chapter 05's in-memory manager, run under several workers.

``/mirage/ws`` greets each client with ``{"type": "hello", "pid": <worker pid>}``;
every text a client sends, and every ``POST /mirage/publish?text=``, goes to the
sockets *this process* knows: ``{"type": "message", "text": ..., "from_pid": ...}``.
With one worker that is everyone. With ``--workers 3`` it is only the clients the
kernel happened to hand to this worker (rarely a third each), and nothing says so:
the publish answers ``{"delivered": k}`` with the local count only. ``/scale/ws`` (scaling.py) is the same chat through Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from course_app.realtime.frames import BadFrame, close, receive_text, send_text

__all__ = ["MAX_MESSAGE_BYTES", "SEND_TIMEOUT", "router"]

MAX_MESSAGE_BYTES = 4096
SEND_TIMEOUT = 1.0  # a client that takes longer to accept one frame is dropped

router = APIRouter(prefix="/mirage", tags=["ch08"])
_sockets: set[WebSocket] = set()  # this worker's clients: the whole problem in one line


async def _send_local(text: str) -> int:
    """Send to every socket of this process; returns how many got it."""
    delivered = 0
    for websocket in list(_sockets):
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                sent = await send_text(websocket, text)
        except TimeoutError:
            sent = False
        if sent:
            delivered += 1
        else:
            _sockets.discard(websocket)
    return delivered


def _message(text: str) -> str:
    return json.dumps({"type": "message", "text": text, "from_pid": os.getpid()}, separators=(",", ":"))


@router.websocket("/ws")
async def mirage_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    _sockets.add(websocket)
    try:
        await websocket.send_json({"type": "hello", "pid": os.getpid()})
        while True:
            await _send_local(_message(await receive_text(websocket, MAX_MESSAGE_BYTES)))
    except WebSocketDisconnect:
        pass
    except BadFrame as bad:
        await close(websocket, bad.code, bad.reason)
    finally:
        _sockets.discard(websocket)


@router.post("/publish")
async def mirage_publish(text: Annotated[str, Query(max_length=MAX_MESSAGE_BYTES)]) -> dict[str, Any]:
    """Send ``text`` to this worker's clients; ``delivered`` counts only them."""
    return {"delivered": await _send_local(_message(text)), "pid": os.getpid(), "clients_here": len(_sockets)}
