"""Checks the connection state before every send, which looks careful, but the state only
changes when a receive or a send happens: the disconnect is still noticed a TICK late.

Fails: ends within
"""

import asyncio
from collections.abc import AsyncIterator

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

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
    try:
        async for update in prices():
            if websocket.client_state != WebSocketState.CONNECTED:
                break
            await websocket.send_json(update)
    except WebSocketDisconnect:
        pass
