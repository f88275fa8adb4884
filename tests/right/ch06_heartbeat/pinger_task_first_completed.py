"""Correct: the pinger is a task of its own beside the listener; the handler
waits for whichever ends first (the client left, or the pinger closed it) and
cancels the other.
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

    async def pinger() -> None:
        nonlocal missed
        while True:
            if missed >= MAX_MISSED:
                await websocket.close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
                return
            await websocket.send_json({"type": "ping"})
            missed += 1
            await asyncio.sleep(PING_INTERVAL)

    listener = asyncio.create_task(listen())
    tasks = {listener, asyncio.create_task(pinger())}
    try:
        # The pinger runs here while the listener reads in its own task, so a late
        # pong still resets `missed`. We check the count *before* each ping: the
        # client gets MAX_MISSED whole intervals to answer, then a named close code
        # that tells it (and our logs) why it was dropped. If the client leaves on
        # its own, the listener ends and so does this loop.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
