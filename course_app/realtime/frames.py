"""Frames in and out, safely: bad input becomes a named close or an error frame, never a crash.

    try:
        text = await receive_text(websocket, max_bytes=4096)
    except BadFrame as bad:
        await close(websocket, bad.code, bad.reason)
        return
    try:
        value = parse_json(text)
    except ValueError as err:
        await send_json(websocket, {"error": str(err)})

Receiving: uvicorn rejects frames over ``ws_max_size`` from the frame header
(close 1009); every route then applies its own, smaller cap, counted in bytes.

Sending: Starlette's ``send_json`` writes with ``ensure_ascii=False``, so a lone
surrogate that arrived as ``"\\ud800"`` in someone's JSON cannot be encoded and
the handler crashes. ``dumps_json`` falls back to ASCII escapes for exactly
those values. ``send_json``, ``send_text`` and ``close`` return ``False`` when
the peer has already gone, because a peer that went away is a normal end.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from course_app.realtime.codes import CloseCode

__all__ = [
    "MAX_REASON_BYTES",
    "BadFrame",
    "close",
    "dumps_json",
    "parse_json",
    "receive_frame",
    "receive_text",
    "send_json",
    "send_text",
]

MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code


class BadFrame(Exception):
    """A frame this route cannot accept: close with ``code`` and ``reason``."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# -- in ------------------------------------------------------------------------------
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


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str) -> Any:
    """``json.loads`` that only ever raises ``ValueError``, with a message fit for the client.

    Besides malformed text this covers ``NaN``/``Infinity`` (not JSON), integers
    over Python's 4,300-digit limit, and nesting deep enough to exhaust the
    parser's recursion limit (``RecursionError`` otherwise).
    """
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as err:
        raise ValueError(f"malformed JSON ({err.msg} at column {err.colno})") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as err:
        raise ValueError(str(err).split(";")[0]) from None


# -- out -----------------------------------------------------------------------------
def dumps_json(data: Any) -> str:
    """Compact JSON text that can always be encoded as UTF-8.

    Non-ASCII text stays readable (``"é"``); a lone surrogate, which UTF-8 cannot
    carry, makes the whole document fall back to ASCII escapes (``"\\ud800"``),
    which every JSON parser reads back to the same value. Nesting too deep to
    encode raises ``ValueError``, like ``parse_json``.
    """
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        try:
            text.encode()
        except UnicodeEncodeError:
            text = json.dumps(data, separators=(",", ":"), ensure_ascii=True)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    return text


def _gone(err: RuntimeError) -> bool:
    # uvicorn already sent its own close (keepalive timeout, a frame over ws_max_size)
    # while Starlette still thinks the socket is open: that send can only fail.
    return "websocket.close" in str(err)


async def send_text(websocket: WebSocket, text: str) -> bool:
    """Send a text frame; ``False`` (and nothing raised) when the connection is closed or closing."""
    if websocket.application_state is not WebSocketState.CONNECTED:
        return False
    try:
        await websocket.send_text(text)
    except WebSocketDisconnect:
        return False
    except RuntimeError as err:
        if not _gone(err):
            raise
        return False
    return True


async def send_json(websocket: WebSocket, data: Any) -> bool:
    """Send ``data`` as a JSON text frame (see ``dumps_json``); ``False`` when the peer is gone."""
    return await send_text(websocket, dumps_json(data))


def _fit_reason(reason: str) -> str:
    raw = reason.encode("utf-8", "replace")
    if len(raw) <= MAX_REASON_BYTES:
        return raw.decode()
    return raw[: MAX_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


async def close(websocket: WebSocket, code: int, reason: str) -> bool:
    """Close with ``code`` and ``reason`` (cut to the 123 bytes a close frame holds).

    ``False`` when the connection was already closed or the peer has gone; a
    close can race the peer's own goodbye, and that is not an error.
    """
    if websocket.application_state not in (WebSocketState.CONNECTING, WebSocketState.CONNECTED):
        return False
    try:
        await websocket.close(code, _fit_reason(reason))
    except WebSocketDisconnect:
        return False
    except RuntimeError as err:
        if not _gone(err):
            raise
        return False
    return True
