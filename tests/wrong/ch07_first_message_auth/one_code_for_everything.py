"""Closes every failed authentication with 1008, so a client cannot tell a typo in
its protocol from a token that expired (and should be renewed).

Fails: a bad token closes with 4001
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
            first = await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT)
        except TimeoutError:
            await websocket.close(CloseCode.AUTH_TIMEOUT, "no token in time")
            return
        if first["type"] == "websocket.disconnect":
            return
        try:
            user = read_token(json.loads(first.get("text") or "")["token"]).user
        except (ValueError, KeyError, TypeError, BadToken):
            await websocket.close(CloseCode.POLICY_VIOLATION, "authentication failed")
            return
        await websocket.send_json({"status": "authenticated", "user": user})
        while True:
            await websocket.send_json(echo(user, await websocket.receive_text()))
    except WebSocketDisconnect:
        pass
