"""One subscriber: a bounded queue, and a policy for when it is full.

The policy decides what happens to a subscriber that falls behind; it is
always told, never silently forgotten:

* ``close`` (default): it is dropped; its next ``get()`` raises
  ``SubscriberTooSlow`` carrying ``CloseCode.TOO_SLOW`` and a reason, so the
  route closes the socket with them;
* ``drop_oldest``: the oldest queued event makes room (``dropped`` counts them);
* ``latest_wins``: everything queued is replaced by the newest event (for
  state snapshots, where only the latest matters; ``dropped`` counts them).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Literal

from course_app.realtime.backends.base import Event
from course_app.realtime.codes import CloseCode

__all__ = ["Overflow", "Subscriber", "SubscriberTooSlow"]

Overflow = Literal["close", "drop_oldest", "latest_wins"]
OVERFLOW_POLICIES: tuple[Overflow, ...] = ("close", "drop_oldest", "latest_wins")


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed under the ``close`` policy: close with ``code`` and ``reason``."""

    code = CloseCode.TOO_SLOW

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Subscriber:
    """Events of one channel for one reader: ``await get()`` or ``async for event in subscriber``."""

    def __init__(self, channel: str, queue_size: int, overflow: Overflow, last_id: str | None = None) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}; got {overflow!r}")
        self.channel = channel
        self.queue_size = queue_size
        self.overflow: Overflow = overflow
        self.last_id = last_id  # the newest Streams id handed to this subscriber
        self.dropped = 0  # events discarded by drop_oldest / latest_wins
        self._queue: deque[Event] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None  # found once: get_running_loop() costs a getpid() call
        self._waiter: asyncio.Future[None] | None = None
        self._error: SubscriberTooSlow | None = None
        self._held: list[Event] | None = None  # while replaying: live events wait here

    # -- the reader's side ------------------------------------------------------
    async def get(self) -> Event:
        """The next event; raises ``SubscriberTooSlow`` once this subscriber was dropped."""
        queue = self._queue
        if queue and self._error is None:
            return queue.popleft()
        while not queue:  # suspends only when nothing is queued: one wake-up, then the whole backlog
            if self._error is not None:
                raise self._error
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._error is not None:
            raise self._error
        return self._queue.popleft()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.get()

    def pending(self) -> int:
        """Events queued and not yet read."""
        return len(self._queue)

    # -- the broadcast's side (never awaits) ----------------------------------
    @property
    def too_slow(self) -> bool:
        return self._error is not None

    def offer(self, event: Event) -> bool:
        """Queue ``event`` by the policy; returns False when this subscriber is (now) dropped."""
        queue = self._queue
        if len(queue) < self.queue_size and self._error is None and self._held is None and event.id is None:
            queue.append(event)  # the common case, once per member per broadcast: room, no policy, no replay
            self._wake()
            return True
        if self._error is not None:
            return False
        if self._held is not None:
            self._held.append(event)
            return True
        if event.id is not None:
            if self.last_id is not None and _stream_id(event.id) <= _stream_id(self.last_id):
                return True  # already had it (a replay overlapped the live stream)
            self.last_id = event.id
        if len(queue) >= self.queue_size:
            if self.overflow == "close":
                self._error = SubscriberTooSlow(
                    f"too slow: {len(queue)} messages were waiting for you on {self.channel!r}; "
                    "read faster, or reconnect to start again"
                )
                queue.clear()
                self._wake()
                return False
            if self.overflow == "drop_oldest":
                queue.popleft()
                self.dropped += 1
            else:
                self.dropped += len(queue)
                queue.clear()
        queue.append(event)
        self._wake()
        return True

    def hold(self) -> None:
        """Keep live events aside until ``release`` (used while replaying missed ones)."""
        self._held = []

    def release(self, replayed: list[Event]) -> None:
        """Queue the replayed events, then the live ones that arrived meanwhile (each id once, in order)."""
        held, self._held = self._held or [], None
        for event in (*replayed, *held):
            if not self.offer(event):
                return

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __repr__(self) -> str:
        state = "too slow" if self._error else f"{len(self._queue)}/{self.queue_size} queued"
        return f"<Subscriber {self.channel!r} {state}, overflow={self.overflow}>"


def _stream_id(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)
