"""Puts the whole handler under the auth deadline, so every authenticated session
is cut off AUTH_TIMEOUT seconds after it opened.

Fails: an authenticated session outlives the auth deadline
"""

import asyncio
import json

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode
from course_app.security.tokens import BadToken, read_token

AUTH_TIMEOUT = 5.0  # seconds to send {"token": ...}

app = FastAPI()


def echo(user: str, text: str) -> dict[str, str]:
    """What an authenticated user gets back for each message."""
    return {"type": "echo", "user": user, "text": text}


@app.websocket("/secure")
async def secure(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        async with asyncio.timeout(AUTH_TIMEOUT):
            first = await websocket.receive()
            if first["type"] == "websocket.disconnect":
                return
            try:
                message = json.loads(first.get("text") or "")
            except ValueError:
                message = None
            if not isinstance(message, dict) or not isinstance(message.get("token"), str):
                await websocket.close(CloseCode.POLICY_VIOLATION, "send {\"token\": ...} first")
                return
            try:
                user = read_token(message["token"]).user
            except BadToken as bad:
                await websocket.close(CloseCode.UNAUTHORIZED, str(bad))
                return
            await websocket.send_json({"status": "authenticated", "user": user})
            while True:
                await websocket.send_json(echo(user, await websocket.receive_text()))
    except TimeoutError:
        await websocket.close(CloseCode.AUTH_TIMEOUT, "no token in time")
    except WebSocketDisconnect:
        pass
