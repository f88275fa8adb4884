"""Uses receive_json() for the first message under a deadline: a binary frame or
text that is not JSON raises inside the handler, which crashes instead of closing with 1008.

Fails: a malformed first message closes with 1008
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
        try:
            message = await asyncio.wait_for(websocket.receive_json(), AUTH_TIMEOUT)
        except TimeoutError:
            await websocket.close(CloseCode.AUTH_TIMEOUT, "no token in time")
            return
        token = message.get("token") if isinstance(message, dict) else None
        if not isinstance(token, str):
            await websocket.close(CloseCode.POLICY_VIOLATION, "send {\"token\": ...} first")
            return
        try:
            user = read_token(token).user
        except BadToken as bad:
            await websocket.close(CloseCode.UNAUTHORIZED, str(bad))
            return
        await websocket.send_json({"status": "authenticated", "user": user})
        while True:
            await websocket.send_json(echo(user, await websocket.receive_text()))
    except WebSocketDisconnect:
        pass
