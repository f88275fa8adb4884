"""A correct alternative: the first message is validated by a pydantic model
(StrictStr: a number is not a token), and the deadline is a wait_for around receive().
"""

from pydantic import BaseModel, StrictStr, ValidationError


class Hello(BaseModel):
    token: StrictStr

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
        event = await asyncio.wait_for(websocket.receive(), timeout=AUTH_TIMEOUT)
    except TimeoutError:
        await websocket.close(code=CloseCode.AUTH_TIMEOUT, reason=f"send a token within {AUTH_TIMEOUT} s")
        return
    if event["type"] == "websocket.disconnect":
        return
    text = event.get("text")
    try:
        if text is None:
            raise ValueError("binary frame")
        hello = Hello.model_validate_json(text)
    except (ValidationError, ValueError):
        await websocket.close(code=CloseCode.POLICY_VIOLATION, reason="first message: a JSON text frame {\"token\": \"...\"}")
        return
    try:
        claims = read_token(hello.token)
    except BadToken as bad:
        await websocket.close(code=CloseCode.UNAUTHORIZED, reason=str(bad))
        return
    await websocket.send_json({"status": "authenticated", "user": claims.user})
    try:
        while True:
            await websocket.send_json(echo(claims.user, await websocket.receive_text()))
    except WebSocketDisconnect:
        pass
