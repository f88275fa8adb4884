"""Friendly to clients that are "not logged in yet": every message before the token
is answered as an anonymous user, so anyone can use the route without a token.

Fails: a message sent before the token is not processed
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
    user = None
    try:
        while user is None:
            try:
                text = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT)
            except TimeoutError:
                await websocket.close(CloseCode.AUTH_TIMEOUT, "no token in time")
                return
            try:
                message = json.loads(text)
            except ValueError:
                message = None
            if isinstance(message, dict) and "token" in message:
                if not isinstance(message["token"], str):
                    await websocket.close(CloseCode.POLICY_VIOLATION, "the token must be a string")
                    return
                try:
                    user = read_token(message["token"]).user
                except BadToken as bad:
                    await websocket.close(CloseCode.UNAUTHORIZED, str(bad))
                    return
                await websocket.send_json({"status": "authenticated", "user": user})
            else:
                await websocket.send_json(echo("anonymous", text))  # "harmless", they said
        while True:
            await websocket.send_json(echo(user, await websocket.receive_text()))
    except WebSocketDisconnect:
        pass
