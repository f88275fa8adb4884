"""Correct: reads raw ASGI messages with receive() and takes the code from the
websocket.disconnect message itself, without any exception."""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
close_codes: list[int] = []


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            close_codes.append(message.get("code", 1000))
            return
        await websocket.send_text(message["text"])
