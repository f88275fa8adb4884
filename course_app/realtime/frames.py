"""Receive frames safely: a frame a route cannot take becomes ``BadFrame`` with a named code and a reason.

    try:
        text = await receive_text(websocket, max_bytes=4096)
    except BadFrame as bad:
        await websocket.close(bad.code, bad.reason)

uvicorn alone accepts frames up to 16 MiB; OWASP suggests 64 KB or less, so
every route passes its own cap. The size is counted in bytes, not characters.
"""

from __future__ import annotations

from fastapi import WebSocket, WebSocketDisconnect

from course_app.realtime.codes import CloseCode

__all__ = ["BadFrame", "receive_frame", "receive_text"]


class BadFrame(Exception):
    """A frame this route cannot accept: close with ``code`` and ``reason``."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def receive_frame(websocket: WebSocket, max_bytes: int) -> str | bytes:
    """The next frame's payload, text or bytes; a disconnect raises ``WebSocketDisconnect``."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", CloseCode.NORMAL), message.get("reason"))
    text: str | None = message.get("text")
    payload: str | bytes = text if text is not None else message.get("bytes") or b""
    size = len(payload.encode()) if isinstance(payload, str) else len(payload)
    if size > max_bytes:
        raise BadFrame(CloseCode.MESSAGE_TOO_BIG, f"messages are limited to {max_bytes} bytes; this one is {size}")
    return payload


async def receive_text(websocket: WebSocket, max_bytes: int) -> str:
    """Like ``websocket.receive_text()``, but binary or oversized frames raise ``BadFrame``."""
    frame = await receive_frame(websocket, max_bytes)
    if isinstance(frame, bytes):
        raise BadFrame(CloseCode.UNSUPPORTED_DATA, "binary frames are not accepted here: send text frames")
    return frame
