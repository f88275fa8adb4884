"""Runs a producer and a consumer together, but with gather(): gather waits for both,
so the handler still lives until the producer's next send fails.

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
    async def produce() -> None:
        async for update in prices():
            await websocket.send_json(update)

    async def consume() -> None:
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass

    try:
        await asyncio.gather(produce(), consume())
    except WebSocketDisconnect:
        pass
