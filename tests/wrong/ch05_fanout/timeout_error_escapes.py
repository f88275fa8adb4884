"""Gives each send a deadline with wait_for, but gathers without
return_exceptions: the first exception escapes the broadcast (a stalled reader's
TimeoutError, or a leaving reader's WebSocketDisconnect, whichever comes first),
POST /publish answers 500, and nobody is dropped.

Fails: TimeoutError | WebSocketDisconnect
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
    # One awaited send per client in turn lets a stalled client stop the loop:
    # its send waits until its buffers drain. Here all sends run at once, each
    # with its own deadline, so the broadcast takes at most SEND_TIMEOUT.
    # A send that missed it was cancelled before writing anything; its client
    # is dropped. A client that died meanwhile raises WebSocketDisconnect,
    # returned (not raised) by gather so it cannot hide the others' results.
    clients = list(subscribers)
    await asyncio.gather(*(asyncio.wait_for(ws.send_text(text), SEND_TIMEOUT) for ws in clients))
    results: list[object] = [None] * len(clients)
    for websocket, result in zip(clients, results):
        if isinstance(result, TimeoutError):
            await drop(websocket)
        elif isinstance(result, Exception):
            subscribers.discard(websocket)  # gone already; its handler cleans up too


@app.post("/publish")
async def publish(request: Request) -> dict[str, int]:
    await broadcast((await request.body()).decode())
    return {"subscribers": len(subscribers)}
