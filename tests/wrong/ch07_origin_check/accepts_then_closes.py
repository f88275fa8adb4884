"""Accepts first, then checks and closes with 1008: the attacker's page gets a
working connection and must be trusted to stop reading; refuse before accept().

Fails: refused at the handshake (HTTP 403)
"""


from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

ALLOWED_ORIGINS = {"https://app.example.com", "http://localhost:8000"}

app = FastAPI()


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
    if not origin_allowed(origin):
        await websocket.close(CloseCode.POLICY_VIOLATION, "origin not allowed")
        return
    user = websocket.cookies.get("session", "guest")
    try:
        await websocket.send_json({"type": "inbox", "user": user, "messages": ["your private messages"]})
        while True:
            await websocket.receive_text()  # keep the feed open until the client leaves
    except WebSocketDisconnect:
        pass
