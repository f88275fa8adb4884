"""Chapter 05: a broadcast that one stalled reader cannot hold up.

Goal: POST /publish sends its body, as text, to every client of /feed.
A client that stops reading must not delay the others for more than about
SEND_TIMEOUT seconds, and a client whose send waits longer than SEND_TIMEOUT
is dropped: it is closed with CloseCode.TOO_SLOW (4004) and gets no more messages.

Check it: run check("ch05_fanout") in the notebook, or `course check ch05_fanout` in a terminal.
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
    # TODO: send to every subscriber at once, give each send SEND_TIMEOUT
    # seconds, and drop() the subscribers whose send did not finish in time.
    for websocket in list(subscribers):
        await websocket.send_text(text)


@app.post("/publish")
async def publish(request: Request) -> dict[str, int]:
    await broadcast((await request.body()).decode())
    return {"subscribers": len(subscribers)}
