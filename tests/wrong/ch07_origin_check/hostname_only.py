"""Compares host names only: http:// (no TLS, so anyone on the network can
inject the page) and any port on the same host pass as "ours". Worse, urlsplit
reads "http://localhost:8000.evil.test" as host "localhost" with a bad port,
so a look-alike gets in first: parsing origins yourself has traps of its own.

Fails: look-alike origins are refused
"""

from urllib.parse import urlsplit


from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

ALLOWED_ORIGINS = {"https://app.example.com", "http://localhost:8000"}

app = FastAPI()


def origin_allowed(origin: str | None) -> bool:
    """True only for an Origin header on ALLOWED_ORIGINS (None: there was no header)."""
    if origin is None:
        return False
    return urlsplit(origin).hostname in {"app.example.com", "localhost"}


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
