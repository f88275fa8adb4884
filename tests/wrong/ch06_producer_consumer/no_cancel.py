"""Returns as soon as the first task ends, but never cancels the other one:
the handler is gone, yet the producer task keeps reading prices() in the background.

Fails: in produce: await websocket.send_json(update)
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

    tasks = {asyncio.create_task(produce()), asyncio.create_task(consume())}
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
