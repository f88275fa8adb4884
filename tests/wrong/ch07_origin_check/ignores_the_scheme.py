"""Compares without the scheme, "so http and https both work": a page served
over plain http (which anyone on the network path can rewrite) passes as ours.

Fails: another scheme or port is another origin
"""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

ALLOWED_ORIGINS = {"https://app.example.com", "http://localhost:8000"}

app = FastAPI()


def _without_scheme(origin: str) -> str:
    return origin.partition("://")[2]


def origin_allowed(origin: str | None) -> bool:
    """True only for an Origin header on ALLOWED_ORIGINS (None: there was no header)."""
    if origin is None:
        return False
    return _without_scheme(origin) in {_without_scheme(allowed) for allowed in ALLOWED_ORIGINS}


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
