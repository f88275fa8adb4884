"""Relies on CORSMiddleware with the allowed origins. CORS governs what a page
may read from fetch/XHR responses; a WebSocket handshake is not subject to it,
and the middleware passes WebSocket scopes straight through.

Fails: a page on another site is refused
"""

from fastapi.middleware.cors import CORSMiddleware


from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

ALLOWED_ORIGINS = {"https://app.example.com", "http://localhost:8000"}

app = FastAPI()
app.add_middleware(CORSMiddleware, allow_origins=sorted(ALLOWED_ORIGINS), allow_credentials=True)


def origin_allowed(origin: str | None) -> bool:
    """True only for an Origin header on ALLOWED_ORIGINS (None: there was no header)."""
    # Set membership is string equality: no lowercasing, no prefixes, no parsing.
    # startswith/endswith/`in` on the string would let look-alike hosts through.
    # None (no header) is never in the set, so non-browser clients are refused too.
    return origin in ALLOWED_ORIGINS


@app.websocket("/feed")
async def feed(websocket: WebSocket) -> None:
    origin = websocket.headers.get("origin")
    await websocket.accept()
    user = websocket.cookies.get("session", "guest")
    try:
        await websocket.send_json({"type": "inbox", "user": user, "messages": ["your private messages"]})
        while True:
            await websocket.receive_text()  # keep the feed open until the client leaves
    except WebSocketDisconnect:
        pass
