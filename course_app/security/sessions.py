"""Who is connected: a per-user connection cap and room fan-out for authenticated sessions.

One registry per app (kept in ``app.state``), never per module, so two apps in one
process (tests, notebooks) do not share counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

__all__ = ["SessionRegistry"]

SEND_TIMEOUT = 2.0  # a member that cannot take a frame within this is skipped


class SessionRegistry:
    def __init__(self, max_per_user: int) -> None:
        self.max_per_user = max_per_user
        self._by_user: dict[str, set[WebSocket]] = {}

    def join(self, user: str, websocket: WebSocket) -> bool:
        """Register the connection; False when the user already has ``max_per_user`` of them."""
        mine = self._by_user.setdefault(user, set())
        if len(mine) >= self.max_per_user:
            if not mine:
                del self._by_user[user]
            return False
        mine.add(websocket)
        return True

    def leave(self, user: str, websocket: WebSocket) -> None:
        mine = self._by_user.get(user)
        if mine is not None:
            mine.discard(websocket)
            if not mine:
                del self._by_user[user]

    def count(self, user: str) -> int:
        return len(self._by_user.get(user, ()))

    def sockets_of(self, users: Iterable[str]) -> list[WebSocket]:
        return [ws for user in users for ws in self._by_user.get(user, ())]

    async def send_to(self, users: Iterable[str], message: dict[str, Any]) -> None:
        """Send to every connection of ``users`` at once; a dead or stalled one is skipped."""
        targets = self.sockets_of(users)
        await asyncio.gather(*(self._send(ws, message) for ws in targets))

    @staticmethod
    async def _send(websocket: WebSocket, message: dict[str, Any]) -> None:
        try:
            await asyncio.wait_for(websocket.send_json(message), SEND_TIMEOUT)
        except (TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
            pass  # it left or stalled; its own handler cleans up
