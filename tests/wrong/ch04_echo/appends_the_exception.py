"""Appends the WebSocketDisconnect itself instead of its code: close_codes fills
with exception objects, and nothing that reads it as numbers works.

Fails: close codes stored as int
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
    except WebSocketDisconnect as goodbye:
        close_codes.append(goodbye)  # type: ignore[arg-type]
