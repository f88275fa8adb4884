"""A correct alternative: authentication in its own function that returns the user
or None (after closing), with asyncio.timeout and a match on the ASGI message.
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


async def authenticate(websocket: WebSocket) -> str | None:
    """The user, or None after closing the connection with the right code."""
    try:
        async with asyncio.timeout(AUTH_TIMEOUT):
            event = await websocket.receive()
    except TimeoutError:
        await websocket.close(CloseCode.AUTH_TIMEOUT, "authentication timed out: send your token first")
        return None
    match event:
        case {"type": "websocket.disconnect"}:
            return None
        case {"text": str(text)}:
            try:
                message = json.loads(text)
            except json.JSONDecodeError:
                message = None
        case _:
            message = None
    match message:
        case {"token": str(token)}:
            pass
        case _:
            await websocket.close(CloseCode.POLICY_VIOLATION, "expected {\"token\": \"...\"} as a JSON text frame")
            return None
    try:
        return read_token(token).user
    except BadToken as bad:
        await websocket.close(CloseCode.UNAUTHORIZED, f"bad token: {bad}")
        return None


@app.websocket("/secure")
async def secure(websocket: WebSocket) -> None:
    await websocket.accept()
    user = await authenticate(websocket)
    if user is None:
        return
    try:
        await websocket.send_json({"status": "authenticated", "user": user})
        async for text in websocket.iter_text():
            await websocket.send_json(echo(user, text))
    except WebSocketDisconnect:
        pass
