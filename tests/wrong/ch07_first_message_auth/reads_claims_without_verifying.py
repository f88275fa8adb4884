"""Reads the user out of the token with jwt.decode(..., options={"verify_signature": False}),
a line copied from a debugging answer: any token anyone made up is accepted.

Fails: a bad token closes with 4001
"""

import jwt

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
            message = json.loads(first.get("text") or "")
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("token"), str):
            await websocket.close(CloseCode.POLICY_VIOLATION, "send {\"token\": ...} first")
            return
        try:
            user = jwt.decode(message["token"], options={"verify_signature": False})["sub"]
        except jwt.InvalidTokenError as bad:
            await websocket.close(CloseCode.UNAUTHORIZED, str(bad))
            return
        await websocket.send_json({"status": "authenticated", "user": user})
        while True:
            await websocket.send_json(echo(user, await websocket.receive_text()))
    except WebSocketDisconnect:
        pass
