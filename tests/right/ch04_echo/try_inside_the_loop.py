"""Correct: the try/except sits inside the loop, around the receive, and the
loop ends with break when the client leaves."""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
close_codes: list[int] = []


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        try:
            text = await websocket.receive_text()
        except WebSocketDisconnect as goodbye:
            close_codes.append(goodbye.code)
            break
        await websocket.send_text(text)
