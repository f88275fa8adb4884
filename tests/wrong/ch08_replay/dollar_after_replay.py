"""Replays what the client missed correctly (XRANGE after last_id), then follows the
live stream with XREAD "$" on every read, as if it were Pub/Sub: entries added while
the handler was sending are skipped, so a burst arrives with holes in it.

Fails: a burst of entries added at once | entries that arrived while it was sending the earlier ones were skipped
"""

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as redis
from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from redis.exceptions import ConnectionError, RedisError, TimeoutError

from course_app.realtime.codes import CloseCode

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
STREAM = "ch08:events"
MAXLEN = 1000  # about this many recent entries are kept (XADD MAXLEN ~)
BLOCK_MS = 1000  # how long one XREAD waits for new entries
RETRY_DELAY = 0.2  # seconds to wait after Redis went away
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")

state: dict[str, redis.Redis] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state["redis"] = redis.from_url(REDIS_URL)
    try:
        yield
    finally:
        await state["redis"].aclose()


app = FastAPI(lifespan=lifespan)


@app.post("/publish")
async def publish(text: str) -> dict[str, str]:
    try:
        entry_id = await state["redis"].xadd(STREAM, {"text": text}, maxlen=MAXLEN, approximate=True)
    except RedisError:
        raise HTTPException(503, "not stored: Redis is unavailable, try again in a moment") from None
    return {"id": entry_id.decode()}


async def current_end() -> str:
    """The id of the newest entry, or "0-0" when the stream is empty."""
    newest = await state["redis"].xrevrange(STREAM, count=1)
    return newest[0][0].decode() if newest else "0-0"


async def stream(websocket: WebSocket, last_id: str | None) -> None:
    # XREAD returns the entries strictly after the id it is given: starting from the client's
    # last id replays exactly what it missed, and the same loop then carries on with live ones.
    cursor = last_id or await current_end()
    await websocket.send_json({"type": "hello", "last_id": cursor})
    if last_id:
        # What the client missed: XRANGE after its last id ("(" excludes it).
        for entry_id, fields in await state["redis"].xrange(STREAM, min=f"({last_id}"):
            await websocket.send_json({"id": entry_id.decode(), "text": fields[b"text"].decode()})
    while True:
        try:
            # From the cursor, never "$": "$" means "after whatever is newest when this XREAD starts",
            # so entries added while we were sending the previous batch would be skipped.
            reply = await state["redis"].xread({STREAM: "$"}, block=BLOCK_MS, count=100)
        except (ConnectionError, TimeoutError):
            # Redis is restarting. The cursor remembers where we were, so the next read loses nothing.
            await asyncio.sleep(RETRY_DELAY)
            continue
        for _name, entries in reply:
            for entry_id, fields in entries:
                await websocket.send_json({"id": entry_id.decode(), "text": fields[b"text"].decode()})
                cursor = entry_id.decode()  # sent: the next read starts after it


async def until_disconnect(websocket: WebSocket) -> None:
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass


@app.websocket("/ws")
async def events(websocket: WebSocket, last_id: str | None = None) -> None:
    await websocket.accept()
    if last_id is not None and not STREAM_ID.fullmatch(last_id):
        await websocket.close(CloseCode.POLICY_VIOLATION, "last_id must be a stream id such as 1700000000000-0")
        return
    # Two jobs: stream entries, and notice at once when the client leaves. The first to end stops the other.
    jobs = [asyncio.ensure_future(stream(websocket, last_id)), asyncio.ensure_future(until_disconnect(websocket))]
    try:
        await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for job in jobs:
            job.cancel()
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    for outcome in outcomes:  # a bug in a job is raised, not swallowed; a client leaving is a normal end
        if isinstance(outcome, Exception) and not isinstance(outcome, (WebSocketDisconnect, RuntimeError)):
            raise outcome
