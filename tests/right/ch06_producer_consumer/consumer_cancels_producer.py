"""Correct: the producer runs as a task; the handler itself is the consumer and,
when the client leaves, cancels the producer (and also ends if the producer fails).
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

    # Two jobs, two tasks. The producer only writes; the consumer only reads, and
    # a read is where a disconnect shows up the moment it happens. Whichever ends
    # first (client gone, or a send that failed) decides: we cancel the other,
    # which also stops prices() right where it was sleeping.
    async def produce() -> None:
        async for update in prices():
            await websocket.send_json(update)

    async def consume() -> None:
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass

    producer = asyncio.create_task(produce())
    try:
        while not producer.done():
            receiving = asyncio.ensure_future(websocket.receive_text())
            await asyncio.wait({receiving, producer}, return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():
                receiving.cancel()
                break
            receiving.result()  # raises WebSocketDisconnect when the client left
    except WebSocketDisconnect:
        pass
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
