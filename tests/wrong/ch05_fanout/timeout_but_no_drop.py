"""Gives each send a deadline but keeps the slow client: every later publish waits SEND_TIMEOUT for it again.

Fails: is dropped within SEND_TIMEOUT
"""

import asyncio

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

app = FastAPI()
subscribers: set[WebSocket] = set()
SEND_TIMEOUT = 0.5  # seconds one send may wait before its client counts as too slow
closing: set[asyncio.Task[None]] = set()  # keep close tasks alive until they finish


@app.websocket("/feed")
async def feed(websocket: WebSocket) -> None:
    await websocket.accept()
    subscribers.add(websocket)
    try:
        while True:
            await websocket.receive_text()  # we only read to notice the client leaving
    except WebSocketDisconnect:
        pass
    finally:
        subscribers.discard(websocket)


async def drop(websocket: WebSocket) -> None:
    """Stop sending to a slow client and close it with TOO_SLOW.

    The close frame waits behind the data the client has not read yet, so
    close() only returns once the client reads again (or never): run it in
    its own task, never inside the broadcast.
    """
    subscribers.discard(websocket)
    reason = "too slow: read faster or reconnect"
    task = asyncio.create_task(websocket.close(CloseCode.TOO_SLOW, reason))
    closing.add(task)
    task.add_done_callback(closing.discard)


async def broadcast(text: str) -> None:
    clients = list(subscribers)
    await asyncio.gather(
        *(asyncio.wait_for(ws.send_text(text), SEND_TIMEOUT) for ws in clients),
        return_exceptions=True,
    )


@app.post("/publish")
async def publish(request: Request) -> dict[str, int]:
    await broadcast((await request.body()).decode())
    return {"subscribers": len(subscribers)}
