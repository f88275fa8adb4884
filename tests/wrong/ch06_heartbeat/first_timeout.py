"""Waits for each pong with a timeout of one interval and closes on the first miss:
MAX_MISSED is ignored and a slow network gets a healthy client dropped.

Fails: within MAX_MISSED, stays connected
"""

import asyncio

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

PING_INTERVAL = 5.0  # seconds between pings
MAX_MISSED = 3  # unanswered pings in a row before we give up on the client

app = FastAPI()


@app.websocket("/heartbeat")
async def heartbeat(websocket: WebSocket) -> None:
    await websocket.accept()
    missed = 0  # pings sent since the last pong

    async def listen() -> None:
        """Read the client's messages; a pong proves it is still there."""
        nonlocal missed
        try:
            while True:
                message = await websocket.receive_json()
                if message.get("type") == "pong":
                    missed = 0
        except WebSocketDisconnect:
            pass

    listener = asyncio.create_task(listen())
    try:
        listener.cancel()  # read the pongs right here instead
        while True:
            await websocket.send_json({"type": "ping"})
            try:
                await asyncio.wait_for(websocket.receive_json(), PING_INTERVAL)
            except asyncio.TimeoutError:
                await websocket.close(CloseCode.HEARTBEAT_TIMEOUT, "no pong")
                return
            await asyncio.sleep(PING_INTERVAL)
    finally:
        listener.cancel()
