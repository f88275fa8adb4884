"""Writes the limit as the number 3 instead of reading MAX_MISSED: it works until
someone changes the setting.

Fails: closed after exactly MAX_MISSED unanswered pings | within MAX_MISSED, stays connected
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
        # The pinger runs here while the listener reads in its own task, so a late
        # pong still resets `missed`. We check the count *before* each ping: the
        # client gets MAX_MISSED whole intervals to answer, then a named close code
        # that tells it (and our logs) why it was dropped. If the client leaves on
        # its own, the listener ends and so does this loop.
        while not listener.done():
            if missed >= 3:
                await websocket.close(CloseCode.HEARTBEAT_TIMEOUT, f"no pong for {MAX_MISSED} pings")
                return
            await websocket.send_json({"type": "ping"})
            missed += 1
            await asyncio.sleep(PING_INTERVAL)
    finally:
        listener.cancel()
