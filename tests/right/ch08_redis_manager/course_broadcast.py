"""The course's own fan-out layer: course_app.realtime.Broadcast over Redis Pub/Sub.

One Broadcast per worker, opened by the lifespan: it subscribes before the app
serves, runs one listener task that reconnects and resubscribes, and gives every
WebSocket its own bounded queue drained by one writer task (send_events).
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime import Broadcast, BroadcastUnavailable
from course_app.realtime.tasks import first_completed
from course_app.realtime.writer import send_events

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL = "ch08:chat"
broadcast = Broadcast(REDIS_URL)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with broadcast:
        yield


app = FastAPI(lifespan=lifespan)


@app.websocket("/ws")
async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    async with broadcast.subscribe(CHANNEL) as subscriber:
        await websocket.send_json({"type": "hello", "pid": os.getpid()})

        async def relay() -> None:
            try:
                while True:
                    text = await websocket.receive_text()
                    try:
                        await broadcast.publish(CHANNEL, text)
                    except BroadcastUnavailable:
                        await websocket.send_json({"type": "error", "reason": "not sent: Redis is unavailable"})
            except WebSocketDisconnect:
                pass

        # Broadcast sends JSON; the message is the text, so render the decoded value back as it was sent.
        await first_completed(send_events(websocket, subscriber, render=lambda event: event.message), relay())
