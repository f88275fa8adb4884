"""Lets a handshake without Origin through "for scripts and mobile apps",
against this route's stated policy (it serves our web page only).

Fails: a missing Origin is refused
"""


from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

ALLOWED_ORIGINS = {"https://app.example.com", "http://localhost:8000"}

app = FastAPI()


def origin_allowed(origin: str | None) -> bool:
    """True only for an Origin header on ALLOWED_ORIGINS (None: there was no header)."""
    return origin is None or origin in ALLOWED_ORIGINS


@app.websocket("/feed")
async def feed(websocket: WebSocket) -> None:
    origin = websocket.headers.get("origin")
    if not origin_allowed(origin):
        await websocket.close(CloseCode.POLICY_VIOLATION)
        return
    await websocket.accept()
    user = websocket.cookies.get("session", "guest")
    try:
        await websocket.send_json({"type": "inbox", "user": user, "messages": ["your private messages"]})
        while True:
            await websocket.receive_text()  # keep the feed open until the client leaves
    except WebSocketDisconnect:
        pass
