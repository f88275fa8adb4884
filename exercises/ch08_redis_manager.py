"""Chapter 08: a connection manager that spans every worker, through Redis Pub/Sub.

Goal: under `uvicorn --workers 3`, a text frame that any client sends to /ws
reaches every client on every worker (the sender too), once each, and each
sender's messages arrive in the order they were sent. Every client is first
greeted with {"type": "hello", "pid": <its worker's PID>}.

Right now `Manager` is chapter 05's in-memory manager: it knows only the
sockets of its own process, so a message reaches one worker's clients and
nobody else (the multi-worker mirage). Make it go through Redis:

* publish(): send the text to CHANNEL on Redis instead of to local sockets;
  every worker's listener (this one included) will get it back;
* start(): subscribe to CHANNEL first, then start ONE listener task for this
  worker and keep a reference to it (the lifespan calls start() and stop());
* listen(): hand every message from the subscription to send_local(); when
  Redis goes away, wait a moment and carry on (redis-py reconnects and
  subscribes again on the next read). Messages published while Redis was down
  are lost: Pub/Sub delivers at most once.

The check runs your file under uvicorn --workers 3 with one real Redis
(REDIS_URL), opens connections until it has met every worker, and restarts
Redis while clients stay connected.

Check it: run check("ch08_redis_manager") in the notebook, or `course check ch08_redis_manager` in a terminal.
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
        # TODO: subscribe self.pubsub to CHANNEL, then start ONE task running self.listen() and keep it in self.listener.

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
        # TODO: publish the text to CHANNEL through Redis, so that every worker's listener gets it.
        await self.send_local(text)

    async def listen(self) -> None:
        # TODO: read messages from self.pubsub and hand the text of each one to send_local();
        # when Redis goes away (RedisError), wait RETRY_DELAY seconds and read again.
        pass

    async def send_local(self, text: str) -> None:
        # One client after another, as chapter 05 began: a client that stops reading holds up the
        # rest of this worker. Chapter 05's fix (a queue and a writer per client) applies unchanged;
        # this exercise is about Redis, so it is left out.
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
