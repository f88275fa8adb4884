"""The in-memory backend: one process, no listener, nothing to lose but the process itself."""

from __future__ import annotations

from typing import Any

from course_app.realtime.backends.base import Deliver, Event

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Publishing hands the event straight to the local fan-out; returns how many subscribers queued it."""

    replays = False

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def ready(self) -> None:
        return None

    async def listen(self) -> None:
        return None

    async def stop(self) -> None:
        self._deliver = None

    async def subscribe(self, channel: str) -> None:
        return None

    async def unsubscribe(self, channel: str) -> None:
        return None

    async def publish(self, channel: str, message: Any, text: str) -> int:
        assert self._deliver is not None, "publish before start: use `async with Broadcast(...)`"
        return self._deliver(Event(channel, message, text))

    async def replay(self, channel: str, after_id: str) -> list[Event]:
        return []
