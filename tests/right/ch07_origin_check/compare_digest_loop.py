"""A correct alternative: compare against each allowed origin with
hmac.compare_digest (more than an Origin needs, since it is no secret, but exact).
"""

import hmac


from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

ALLOWED_ORIGINS = {"https://app.example.com", "http://localhost:8000"}

app = FastAPI()


def origin_allowed(origin: str | None) -> bool:
    """True only for an Origin header on ALLOWED_ORIGINS (None: there was no header)."""
    if origin is None:
        return False
    return any(hmac.compare_digest(origin.encode(), allowed.encode()) for allowed in ALLOWED_ORIGINS)


@app.websocket("/feed")
async def feed(websocket: WebSocket) -> None:
    origin = websocket.headers.get("origin")
    # Refuse before accept(): uvicorn answers HTTP 403 and the cookie-bearing page
    # never gets a connection, let alone a frame. (A browser reports only code 1006.)
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
