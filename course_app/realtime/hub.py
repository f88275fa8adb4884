"""A local fan-out hub: each subscriber gets its own bounded queue.

Publishing never awaits a client, so one slow reader cannot stall the others;
a subscriber whose queue is full is marked as lagging and dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["Hub", "Subscription"]


class Subscription:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.lagging = False

    async def get(self) -> Any:
        return await self.queue.get()


class Hub:
    def __init__(self, maxsize: int = 256) -> None:
        self._maxsize = maxsize
        self._subs: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._subs)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        sub = Subscription(self._maxsize)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    def publish(self, message: Any) -> int:
        """Queue ``message`` for every subscriber; returns how many got it."""
        delivered = 0
        for sub in list(self._subs):  # a copy: subscribers may leave while we loop
            try:
                sub.queue.put_nowait(message)
                delivered += 1
            except asyncio.QueueFull:
                sub.lagging = True
                self._subs.discard(sub)
        return delivered
