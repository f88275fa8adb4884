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
    # TODO: this loop only learns that the client left when a send fails, up to TICK
    # seconds late. Run it as one task next to a second task that waits for the
    # client's disconnect (receive until WebSocketDisconnect); when either task ends,
    # cancel the other.
    try:
        async for update in prices():
            await websocket.send_json(update)
    except WebSocketDisconnect:
        pass
