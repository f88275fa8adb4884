"""A correct alternative: refuse with an explicit HTTP 403 response that says
why (Starlette's send_denial_response), instead of a bare close before accept.
"""

from fastapi.responses import PlainTextResponse


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
    # Refuse before accept(): uvicorn answers HTTP 403 and the cookie-bearing page
    # never gets a connection, let alone a frame. (A browser reports only code 1006.)
    if not origin_allowed(origin):
        await websocket.send_denial_response(PlainTextResponse("origin not allowed", status_code=403))
        return
    await websocket.accept()
    user = websocket.cookies.get("session", "guest")
    try:
        await websocket.send_json({"type": "inbox", "user": user, "messages": ["your private messages"]})
        while True:
            await websocket.receive_text()  # keep the feed open until the client leaves
    except WebSocketDisconnect:
        pass
