"""A subscription and a listener task per WebSocket: each connection subscribes on its own
and forwards to its own socket. Every message does arrive, but every client costs a Redis
connection, and Redis sends each message once per client instead of once per worker.

Fails: each worker holds one Redis subscription
"""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as redis
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL = "ch08:chat"
RETRY_DELAY = 0.2

state: dict[str, redis.Redis] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state["redis"] = redis.from_url(REDIS_URL)
    try:
        yield
    finally:
        await state["redis"].aclose()


app = FastAPI(lifespan=lifespan)


async def forward(pubsub: redis.client.PubSub, websocket: WebSocket) -> None:
    while True:
        try:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    await websocket.send_text(message["data"].decode())
        except RedisError:
            await asyncio.sleep(RETRY_DELAY)


@app.websocket("/ws")
async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    pubsub = state["redis"].pubsub()
    await pubsub.subscribe(CHANNEL)
    listener = asyncio.create_task(forward(pubsub, websocket))
    try:
        await websocket.send_json({"type": "hello", "pid": os.getpid()})
        while True:
            text = await websocket.receive_text()
            try:
                await state["redis"].publish(CHANNEL, text)
            except RedisError:
                await websocket.send_json({"type": "error", "reason": "not sent: Redis is unavailable, try again"})
    except WebSocketDisconnect:
        pass
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await listener
        await pubsub.aclose()
