"""Handles the disconnect, but has no loop: it echoes the first message and then
the handler returns, which closes the connection.

Fails: echoes every message
"""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
close_codes: list[int] = []


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        text = await websocket.receive_text()
        await websocket.send_text(text)
    except WebSocketDisconnect as goodbye:
        close_codes.append(goodbye.code)
