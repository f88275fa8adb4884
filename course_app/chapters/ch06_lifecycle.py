"""Chapter 06 demos: an application heartbeat and a stream that notices when its client leaves.

Both routes speak small JSON messages and share one idea: a *listener* task
reads from the client while a *producer* task writes to it, and when either
ends the other is cancelled. That is what lets a send-heavy handler notice a
disconnect at once instead of on its next send.

* ``/heartbeat?interval=5&misses=3`` sends ``{"type": "ping", "seq": n}`` every
  ``interval`` seconds and expects ``{"type": "pong"}`` back; after ``misses``
  pings in a row without a pong it closes with ``CloseCode.HEARTBEAT_TIMEOUT``.
  A client may send ``{"type": "ping"}`` too and gets ``{"type": "pong"}``:
  browsers cannot see protocol-level pings, so this is how a page checks the server.
* ``/ticker?interval=1&count=0`` streams ``{"type": "tick", "seq": n}`` (forever
  when ``count`` is 0); ``{"type": "stop"}`` ends it with a normal close.
  ``GET /ticker/live`` says how many ticker handlers are running right now.

Bad input gets a clear answer and never hurts other clients: malformed JSON or
an unknown message type gets ``{"type": "error", "reason": ...}``; a binary
frame closes with ``UNSUPPORTED_DATA``, a message over ``MAX_MESSAGE_BYTES``
with ``MESSAGE_TOO_BIG``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from course_app.realtime.codes import CloseCode
from course_app.realtime.frames import BadFrame, close, parse_json, receive_text, send_json
from course_app.realtime.tasks import first_completed

__all__ = ["MAX_MESSAGE_BYTES", "router"]

router = APIRouter(tags=["ch06 heartbeats and lifecycle"])

MAX_MESSAGE_BYTES = 4096
_LIVE = "ch06_live_tickers"

Handler = Callable[[dict[str, Any]], Awaitable[None]]


async def _listen(websocket: WebSocket, handle: Handler) -> None:
    """Read JSON objects until the client leaves (or breaks a rule), passing each to ``handle``."""
    while True:
        try:
            text = await receive_text(websocket, MAX_MESSAGE_BYTES)
        except WebSocketDisconnect:
            return
        except BadFrame as bad:
            await close(websocket, bad.code, bad.reason)
            return
        try:
            data = parse_json(text)
        except ValueError as err:
            await send_json(websocket, {"type": "error", "reason": f"{err}: send an object like {{\"type\": \"pong\"}}"})
            continue
        if not isinstance(data, dict):
            await send_json(websocket, {"type": "error", "reason": "expected a JSON object like {\"type\": \"pong\"}"})
            continue
        await handle(data)
        if websocket.application_state is not WebSocketState.CONNECTED:
            return


def _param(websocket: WebSocket, name: str, default: float, low: float, high: float, *, whole: bool = False) -> float:
    """A number from the query string, or a ValueError whose text becomes the close reason.

    Validating after ``accept()`` lets a browser read the reason; a rejected
    handshake only shows it a bare failure.
    """
    raw = websocket.query_params.get(name)
    if raw is None:
        return default
    kind = "a whole number" if whole else "a number"
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise ValueError(f"{name} must be {kind} from {low:g} to {high:g}, got {raw[:20]!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be {kind} from {low:g} to {high:g}, got {raw[:20]!r}")
    return value


async def _unknown(websocket: WebSocket, data: dict[str, Any], known: str) -> None:
    await send_json(websocket, {"type": "error", "reason": f"unknown message type {data.get('type')!r}: expected {known}"})


# -- /heartbeat ----------------------------------------------------------------
@dataclass
class _Beat:
    interval: float
    misses: int
    missed: int = 0
    seq: int = 0


@router.websocket("/heartbeat")
async def heartbeat(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        beat = _Beat(_param(websocket, "interval", 5.0, 0.01, 120), int(_param(websocket, "misses", 3, 1, 20, whole=True)))
    except ValueError as err:
        await close(websocket, CloseCode.POLICY_VIOLATION, str(err))
        return

    async def on_message(data: dict[str, Any]) -> None:
        if data.get("type") == "pong":
            beat.missed = 0
        elif data.get("type") == "ping":
            await send_json(websocket, {"type": "pong", "seq": data.get("seq")})
        else:
            await _unknown(websocket, data, '"pong" or "ping"')

    async def pinger() -> None:
        while True:
            if beat.missed >= beat.misses:
                await close(websocket, CloseCode.HEARTBEAT_TIMEOUT, f"no pong for {beat.misses} pings in a row")
                return
            beat.seq += 1
            if not await send_json(websocket, {"type": "ping", "seq": beat.seq}):
                return
            beat.missed += 1
            await asyncio.sleep(beat.interval)

    await first_completed(_listen(websocket, on_message), pinger())


# -- /ticker -------------------------------------------------------------------
@router.websocket("/ticker")
async def ticker(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        interval = _param(websocket, "interval", 1.0, 0.001, 120)
        count = int(_param(websocket, "count", 0, 0, 1_000_000, whole=True))
    except ValueError as err:
        await close(websocket, CloseCode.POLICY_VIOLATION, str(err))
        return
    state = websocket.app.state
    setattr(state, _LIVE, getattr(state, _LIVE, 0) + 1)

    async def on_message(data: dict[str, Any]) -> None:
        if data.get("type") == "stop":
            await close(websocket, CloseCode.NORMAL, "stopped by the client")
        elif data.get("type") == "ping":
            await send_json(websocket, {"type": "pong", "seq": data.get("seq")})
        else:
            await _unknown(websocket, data, '"stop" or "ping"')

    async def produce() -> None:
        seq = 0
        while count == 0 or seq < count:
            await asyncio.sleep(interval)
            seq += 1
            if not await send_json(websocket, {"type": "tick", "seq": seq}):
                return
        await close(websocket, CloseCode.NORMAL, "stream complete")

    try:
        await first_completed(_listen(websocket, on_message), produce())
    finally:
        setattr(state, _LIVE, getattr(state, _LIVE) - 1)


@router.get("/ticker/live")
async def ticker_live(request: Request) -> dict[str, int]:
    """How many /ticker handlers are running: drops to 0 as soon as their clients leave."""
    return {"streams": getattr(request.app.state, _LIVE, 0)}
