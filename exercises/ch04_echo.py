"""Chapter 04 exercise: an echo that notices when the client leaves.

Goal: the WebSocket route /echo
  * sends every text message straight back, unchanged, for as long as the client stays;
  * when the client leaves, ends quietly (no "Exception in ASGI application" in
    the server log) and appends the close code the client sent to `close_codes`
    (1000 for a normal close, 1001 when a browser tab closes, and so on).

Check it: run check("ch04_echo") in the notebook, or `course check ch04_echo` in a terminal.
"""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect  # noqa: F401 - you will need it

app = FastAPI()
close_codes: list[int] = []  # the close code of every client that left, in order


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    # TODO: echo every message until the client leaves (a loop), and when it
    #       leaves, catch WebSocketDisconnect and append its close code to close_codes.
    text = await websocket.receive_text()
    await websocket.send_text(text)
