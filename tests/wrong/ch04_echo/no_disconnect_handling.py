"""Loops forever without catching WebSocketDisconnect: every client that leaves
crashes the handler ("Exception in ASGI application" in the server log), and no
close code is ever recorded.

Fails: A client leaving is a normal end
"""

from fastapi import FastAPI, WebSocket

app = FastAPI()
close_codes: list[int] = []


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        await websocket.send_text(text)
