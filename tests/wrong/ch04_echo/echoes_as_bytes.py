"""Echoes the text back encoded as bytes: the client gets a binary frame, which a
browser hands over as a Blob, not the string it sent.

Fails: came back as a binary frame
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
            await websocket.send_bytes(text.encode())
    except WebSocketDisconnect as goodbye:
        close_codes.append(goodbye.code)
