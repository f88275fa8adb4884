"""Sends a ping, then waits for the pong right in the loop with no deadline:
the count is checked only after an answer, so a silent client is never closed.

Fails: your server code raised WebSocketDisconnect
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
            if missed >= MAX_MISSED:
                await websocket.close(CloseCode.HEARTBEAT_TIMEOUT, "no pong")
                return
            await websocket.send_json({"type": "ping"})
            missed += 1
            reply = await websocket.receive_json()
            if reply.get("type") == "pong":
                missed = 0
            await asyncio.sleep(PING_INTERVAL)
    finally:
        listener.cancel()
