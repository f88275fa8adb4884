"""A connection manager with rooms that never keeps a dead socket.

Three rules, each one a classic bug avoided:

* leave in ``finally`` (the ``joined`` context manager), so a socket leaves its
  room however the connection ends: close frame, TCP reset, or a crash;
* broadcast over a *copy* of the room, so leaving during a broadcast is safe;
* catch the named errors a dead socket raises (never a bare ``except``), send
  to everyone at once with a deadline each, and drop whoever failed or was too
  slow, closing the slow ones with ``CloseCode.TOO_SLOW``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from course_app.realtime.codes import CloseCode

__all__ = ["RoomManager"]

log = logging.getLogger(__name__)

# What a send to a socket that is gone raises: Starlette turns uvicorn's
# ClientDisconnected into WebSocketDisconnect; a send after our own close raises
# WebSocketDisconnected (a RuntimeError).
_GONE = (WebSocketDisconnect, WebSocketDisconnected, OSError)


class RoomManager:
    """Rooms of WebSockets: join with ``async with manager.joined(room, ws)``, then broadcast."""

    def __init__(self, send_timeout: float = 1.0) -> None:
        self.send_timeout = send_timeout
        self._rooms: dict[str, set[WebSocket]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    # -- membership ------------------------------------------------------------
    @asynccontextmanager
    async def joined(self, room: str, websocket: WebSocket) -> AsyncIterator[None]:
        """Be a member of ``room`` for the body; leave when it ends, whatever ends it."""
        self._rooms.setdefault(room, set()).add(websocket)
        try:
            yield
        finally:
            self.leave(room, websocket)

    def leave(self, room: str, websocket: WebSocket) -> None:
        """Remove ``websocket`` from ``room`` (no error if it already left); drop empty rooms."""
        members = self._rooms.get(room)
        if members is None:
            return
        members.discard(websocket)
        if not members:
            del self._rooms[room]

    def count(self, room: str | None = None) -> int:
        """Members of ``room``, or of every room when ``room`` is None."""
        if room is not None:
            return len(self._rooms.get(room, ()))
        return sum(len(members) for members in self._rooms.values())

    def rooms(self) -> dict[str, int]:
        """Room name -> member count (empty rooms are never kept)."""
        return {name: len(members) for name, members in sorted(self._rooms.items())}

    # -- fan-out ---------------------------------------------------------------
    async def broadcast_text(self, room: str, text: str) -> int:
        """Send ``text`` to every member at once; returns how many got it."""
        return await self._broadcast(room, {"type": "websocket.send", "text": text})

    async def broadcast_json(self, room: str, data: object) -> int:
        """Send ``data`` as JSON text to every member at once; returns how many got it."""
        import json

        return await self.broadcast_text(room, json.dumps(data, separators=(",", ":")))

    async def _broadcast(self, room: str, message: dict[str, str]) -> int:
        members = list(self._rooms.get(room, ()))  # a copy: members may leave while we send
        results = await asyncio.gather(*(self._send(ws, message) for ws in members))
        for websocket, ok in zip(members, results):
            if not ok:
                self.leave(room, websocket)
        return sum(results)

    async def _send(self, websocket: WebSocket, message: dict[str, str]) -> bool:
        try:
            await asyncio.wait_for(websocket.send(message), self.send_timeout)
        except TimeoutError:  # first: TimeoutError is a subclass of OSError, one of _GONE
            self._close_later(websocket)
            return False
        except _GONE:
            return False  # it died; its own handler will notice too
        return True

    def _close_later(self, websocket: WebSocket) -> None:
        """Close a too-slow socket without making the broadcaster wait for it.

        The close frame queues behind the unread data, so ``close()`` itself
        blocks until the client reads again; it runs in its own task.
        """
        task = asyncio.create_task(self._close_slow(websocket))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_slow(self, websocket: WebSocket) -> None:
        reason = f"too slow: a send waited over {self.send_timeout:g} s; read faster or reconnect"
        with contextlib.suppress(*_GONE, TimeoutError):
            await asyncio.wait_for(websocket.close(CloseCode.TOO_SLOW, reason), 30)
