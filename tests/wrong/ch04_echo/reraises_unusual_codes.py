"""Records the code, then re-raises for anything but a normal close, treating a
client that vanished (TCP reset) as an error: uvicorn logs a crash for it.

Fails: A client leaving is a normal end
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
        close_codes.append(goodbye.code)
        if goodbye.code >= 1005 and goodbye.code < 3000:
            raise
