"""A broadcast channel that spans every worker when REDIS_URL is set (chapter 08's subject).

``/scale/ws`` greets each client with ``{"type": "hello", "pid": <worker pid>}``;
every text a client sends, and every ``POST /scale/publish?text=``, reaches every
client on every worker as ``{"type": "message", "text": ..., "from_pid": ..., "pid": ...}``.
Without REDIS_URL the hub is local to one process: the multi-worker mirage.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect

from course_app.realtime import Hub
from course_app.realtime.frames import BadFrame, receive_text
from course_app.realtime.tasks import first_completed

router = APIRouter(prefix="/scale", tags=["scaling"])
CHANNEL = "course:scale"
MAX_MESSAGE_BYTES = 4096


async def _publish(app: Any, message: dict[str, Any]) -> int:
    state = app.state
    bridge = getattr(state, "scale_bridge", None)
    if bridge is not None:
        return int(await bridge.publish(message))
    hub: Hub = state.scale_hub
    return hub.publish(message)


@router.websocket("/ws")
async def scale_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    hub: Hub = websocket.app.state.scale_hub
    async with hub.subscribe() as sub:
        await websocket.send_json({"type": "hello", "pid": os.getpid()})

        async def pump() -> None:
            while True:
                message = await sub.get()
                await websocket.send_json({**message, "pid": os.getpid()})

        async def read() -> None:
            try:
                while True:
                    text = await receive_text(websocket, MAX_MESSAGE_BYTES)
                    await _publish(websocket.app, {"type": "message", "text": text, "from_pid": os.getpid()})
            except WebSocketDisconnect:
                pass
            except BadFrame as bad:
                await websocket.close(bad.code, bad.reason)

        await first_completed(pump(), read())


@router.post("/publish")
async def scale_publish(text: str, request: Request) -> dict[str, int]:
    """Broadcast ``text``; ``receivers`` counts workers (Redis) or local clients (no Redis)."""
    receivers = await _publish(request.app, {"type": "message", "text": text, "from_pid": os.getpid()})
    return {"receivers": receivers, "pid": os.getpid()}
