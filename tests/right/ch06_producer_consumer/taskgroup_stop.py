"""Correct: a TaskGroup holds both tasks; whichever finishes first cancels the
other one explicitly, and the group waits for both to be done.
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

    async with asyncio.TaskGroup() as group:
        producer = group.create_task(produce())
        consumer = group.create_task(consume())
        producer.add_done_callback(lambda _: consumer.cancel())
        consumer.add_done_callback(lambda _: producer.cancel())
