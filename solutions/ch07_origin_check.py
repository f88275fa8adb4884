"""Chapter 07: stop cross-site WebSocket hijacking with an exact Origin allowlist.

The /feed route trusts the session cookie, and a browser attaches that cookie to
a WebSocket handshake from ANY page the user has open, evil ones included.
Browsers apply no CORS to WebSockets, and CORSMiddleware does not look at them.
What the server can trust is the Origin header: a page cannot change it.

Goal: refuse the handshake, before accept(), unless Origin is on ALLOWED_ORIGINS.
  * Exact match only: "https://app.example.com" is ours; these are not:
      https://app.example.com.evil.test     (a look-alike prefix)
      https://evil-app.example.com          (a look-alike suffix)
      http://app.example.com                (another scheme)
      https://app.example.com:8443          (another port)
      null                                  (sandboxed frames, file: pages)
  * Browsers send the Origin in lowercase, so plain string equality works;
    lowercasing it first is also safe (host names ignore case), prefixes are not.
  * No Origin header at all means a non-browser client. Policy of this route:
    it serves our web page only (scripts use a token route), so refuse that too.
  * Refuse by closing before accept(): the client gets HTTP 403 and no data.

Check it: run check("ch07_origin_check") in the notebook, or `course check ch07_origin_check`.
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
