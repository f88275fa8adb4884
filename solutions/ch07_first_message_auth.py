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
        # The deadline covers only the first message, and the whole of it: a client
        # that drips it in byte by byte still runs out of time. An open socket that
        # never authenticates would otherwise hold memory and a file descriptor forever.
        try:
            first = await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT)
        except TimeoutError:
            await websocket.close(CloseCode.AUTH_TIMEOUT, f"no token within {AUTH_TIMEOUT:g} s: send {{\"token\": ...}} first")
            return
        if first["type"] == "websocket.disconnect":
            return  # the client left before authenticating
        # Malformed is not the same as wrong: 1008 says "you broke the protocol".
        # receive() instead of receive_text(): a binary frame is an answer too, not a crash.
        shape = 'the first message must be a JSON text frame {"token": "<access token>"}'
        try:
            message = json.loads(first.get("text") or "")
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("token"), str):
            await websocket.close(CloseCode.POLICY_VIOLATION, shape)
            return
        # read_token checks signature, algorithm and expiry; its message never echoes the token.
        try:
            user = read_token(message["token"]).user
        except BadToken as bad:
            await websocket.close(CloseCode.UNAUTHORIZED, f"unauthorized: {bad}")
            return
        await websocket.send_json({"status": "authenticated", "user": user})
        while True:
            text = await websocket.receive_text()
            await websocket.send_json(echo(user, text))
    except WebSocketDisconnect:
        pass  # the client left
