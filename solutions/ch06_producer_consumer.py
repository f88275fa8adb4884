"""Chapter 06: a stream that notices its client left.

Goal: /stream sends {"seq": 1}, {"seq": 2}, ... taken from prices(), one every TICK seconds.
When the client disconnects, the handler must end at once (well within a second),
not on its next send TICK seconds later, and the feed must stop too.

The check sets TICK to small and large values, so keep prices() reading it.

Check it: run check("ch06_producer_consumer") in the notebook, or `course check ch06_producer_consumer` in a terminal.
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

    tasks = {asyncio.create_task(produce()), asyncio.create_task(consume())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
