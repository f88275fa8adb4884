"""Closes silent clients, but with the default code 1000, so the client cannot tell why.

Fails: HEARTBEAT_TIMEOUT
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
        while not listener.done():
            if missed >= MAX_MISSED:
                await websocket.close()
                return
            await websocket.send_json({"type": "ping"})
            missed += 1
            await asyncio.sleep(PING_INTERVAL)
    finally:
        listener.cancel()
