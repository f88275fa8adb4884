"""Uses `async for ... in websocket.iter_text()`, which ends quietly on disconnect
but hides the close code, so the code is guessed as 1000 after the loop.
A tab closing (1001) is then recorded as a normal close.

Fails: are each recorded, in order
"""

from fastapi import FastAPI, WebSocket

app = FastAPI()
close_codes: list[int] = []


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)
    close_codes.append(1000)
