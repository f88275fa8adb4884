"""Records only the "polite" codes 1000 and 1001, as if the others did not matter:
an application's own codes (4000-4999) and registered ones (3000-3999) are lost.

Fails: are each recorded, in order
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
        if goodbye.code in (1000, 1001):
            close_codes.append(goodbye.code)
