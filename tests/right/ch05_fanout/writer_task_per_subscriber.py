"""Correct: the notebook's per-client strategy. Each subscriber has a queue and one
writer task; broadcast() only fills queues and never waits. The writer gives each
send SEND_TIMEOUT and drops its client when one misses it.
"""

import asyncio

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

app = FastAPI()
subscribers: set[WebSocket] = set()
SEND_TIMEOUT = 0.5  # seconds one send may wait before its client counts as too slow
closing: set[asyncio.Task[None]] = set()  # keep close tasks alive until they finish
queues: dict[WebSocket, asyncio.Queue[str]] = {}


async def writer(websocket: WebSocket, queue: asyncio.Queue[str]) -> None:
    try:
        while True:
            text = await queue.get()
            try:
                await asyncio.wait_for(websocket.send_text(text), SEND_TIMEOUT)
            except TimeoutError:
                await drop(websocket)
                return
    except WebSocketDisconnect:
        pass


@app.websocket("/feed")
async def feed(websocket: WebSocket) -> None:
    await websocket.accept()
    subscribers.add(websocket)
    queues[websocket] = asyncio.Queue()
    task = asyncio.create_task(writer(websocket, queues[websocket]))
    try:
        while True:
            await websocket.receive_text()  # we only read to notice the client leaving
    except WebSocketDisconnect:
        pass
    finally:
        subscribers.discard(websocket)
        queues.pop(websocket, None)
        task.cancel()


async def drop(websocket: WebSocket) -> None:
    """Stop sending to a slow client and close it with TOO_SLOW.

    The close frame waits behind the data the client has not read yet, so
    close() only returns once the client reads again (or never): run it in
    its own task, never inside the broadcast.
    """
    subscribers.discard(websocket)
    queues.pop(websocket, None)
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
    for queue in list(queues.values()):
        queue.put_nowait(text)


@app.post("/publish")
async def publish(request: Request) -> dict[str, int]:
    await broadcast((await request.body()).decode())
    return {"subscribers": len(subscribers)}
