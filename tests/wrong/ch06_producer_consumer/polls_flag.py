"""Starts a consumer task, but the producer only looks at it between updates:
the loop notices the disconnect after its sleep, up to TICK seconds late.

Fails: ends within
"""

import asyncio
from collections.abc import AsyncIterator

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

TICK = 1.0  # seconds between updates

app = FastAPI()


async def prices() -> AsyncIterator[dict[str, int]]:
    """The producer: an endless feed of updates (a stand-in for a database or a queue)."""
    seq = 0
    while True:
        await asyncio.sleep(TICK)
        seq += 1
        yield {"seq": seq}


@app.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    await websocket.accept()
    async def consume() -> None:
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass

    consumer = asyncio.create_task(consume())
    try:
        async for update in prices():
            if consumer.done():
                break
            await websocket.send_json(update)
    except WebSocketDisconnect:
        pass
    finally:
        consumer.cancel()
