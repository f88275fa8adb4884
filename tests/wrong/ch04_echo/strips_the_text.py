"""Tidies each message with strip() before echoing it: an echo must send back
exactly what arrived, whitespace included.

Fails: echoes every message, unchanged
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
            await websocket.send_text(text.strip())
    except WebSocketDisconnect as goodbye:
        close_codes.append(goodbye.code)
