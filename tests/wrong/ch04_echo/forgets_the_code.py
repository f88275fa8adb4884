"""Catches WebSocketDisconnect (no crash) but only passes, so nobody ever
learns why the client left.

Fails: recorded in close_codes
"""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
close_codes: list[int] = []


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(text)
    except WebSocketDisconnect:
        pass
