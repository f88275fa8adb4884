"""Chapter 07: authenticate a WebSocket with its first message.

A browser cannot put a token in the handshake's headers, so the client sends it
as the first message, right after the connection opens:

    client -> {"token": "<access token>"}
    server -> {"status": "authenticated", "user": "alice"}
    client -> any text        server -> {"type": "echo", "user": "alice", "text": ...}

Goal: nothing is read, answered or processed until a valid token arrived.
  * No complete first message within AUTH_TIMEOUT seconds: close with
    CloseCode.AUTH_TIMEOUT (4002). The check shortens AUTH_TIMEOUT, so read it
    from this module-level name.
  * A first message that is not a JSON text frame {"token": "<string>"} (bytes,
    invalid JSON, a list, no "token", a token that is not a string):
    close with CloseCode.POLICY_VIOLATION (1008).
  * A token that read_token() refuses (garbage, expired, signed with another key,
    alg "none"): close with CloseCode.UNAUTHORIZED (4001).
Every close carries a reason that tells the client what to do next.
Once authenticated, the session lasts as long as the client wants.

Check it: run check("ch07_first_message_auth") in the notebook, or
`course check ch07_first_message_auth` in a terminal.
"""

import asyncio  # noqa: F401 - you will need it
import json

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode  # noqa: F401 - you will need it
from course_app.security.tokens import BadToken, read_token  # noqa: F401 - read_token raises BadToken

AUTH_TIMEOUT = 5.0  # seconds to send {"token": ...}

app = FastAPI()


def echo(user: str, text: str) -> dict[str, str]:
    """What an authenticated user gets back for each message."""
    return {"type": "echo", "user": user, "text": text}


@app.websocket("/secure")
async def secure(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        # TODO: wait at most AUTH_TIMEOUT seconds for the first message; close with
        #       CloseCode.AUTH_TIMEOUT and a reason when it does not come, then return.
        # TODO: the first message must be a JSON text frame {"token": "<string>"}:
        #       anything else closes with CloseCode.POLICY_VIOLATION and a reason.
        # TODO: when read_token(token) raises BadToken, close with
        #       CloseCode.UNAUTHORIZED and a reason, then return.
        first = await websocket.receive_text()
        user = read_token(json.loads(first)["token"]).user
        await websocket.send_json({"status": "authenticated", "user": user})
        while True:
            text = await websocket.receive_text()
            await websocket.send_json(echo(user, text))
    except WebSocketDisconnect:
        pass  # the client left
