"""Hands every message from listen() to send_local(), the subscribe confirmation too: its
data is the channel count, an int, so .decode() raises AttributeError and the listener task
dies before the first real message. Nothing is logged until stop() awaits the task.

Fails: your listener task turned out to have raised AttributeError
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
RETRY_DELAY = 0.2  # seconds to wait before reading again after Redis went away


class Manager:
    def __init__(self) -> None:
        self.sockets: set[WebSocket] = set()  # this worker's clients only
        self.redis: redis.Redis | None = None
        self.pubsub: redis.client.PubSub | None = None
        self.listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.redis = redis.from_url(REDIS_URL)
        self.pubsub = self.redis.pubsub()
        await self.pubsub.subscribe(CHANNEL)
        self.listener = asyncio.create_task(self.listen())

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.listener
        if self.pubsub is not None:
            await self.pubsub.aclose()
        if self.redis is not None:
            await self.redis.aclose()

    async def publish(self, text: str) -> None:
        await self.redis.publish(CHANNEL, text)

    async def listen(self) -> None:
        while True:
            try:
                async for message in self.pubsub.listen():
                    await self.send_local(message["data"].decode())
            except RedisError:
                await asyncio.sleep(RETRY_DELAY)

    async def send_local(self, text: str) -> None:
        for websocket in list(self.sockets):  # a copy: clients may leave meanwhile
            try:
                await websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError):  # it left: forget it
                self.sockets.discard(websocket)


manager = Manager()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await manager.start()
    try:
        yield
    finally:
        await manager.stop()


app = FastAPI(lifespan=lifespan)


@app.websocket("/ws")
async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    manager.sockets.add(websocket)
    try:
        await websocket.send_json({"type": "hello", "pid": os.getpid()})
        while True:
            text = await websocket.receive_text()
            try:
                await manager.publish(text)
            except RedisError:  # Redis is restarting: say so, keep the connection
                await websocket.send_json({"type": "error", "reason": "not sent: Redis is unavailable, try again"})
    except WebSocketDisconnect:
        pass
    finally:
        manager.sockets.discard(websocket)
