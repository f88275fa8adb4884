"""Redis Pub/Sub: every process's listener hears every message published while it is subscribed.

At most once: whatever is published while a listener is reconnecting is gone.
One PubSub connection per process; channels are subscribed when their first
local subscriber arrives and unsubscribed when the last one leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio.client import PubSub

from course_app.realtime.backends._redis import OUTAGE, RedisBackend, still_wanted
from course_app.realtime.backends.base import Event

__all__ = ["RedisPubSubBackend"]

log = logging.getLogger("course_app.realtime")


class RedisPubSubBackend(RedisBackend):
    replays = False

    def __init__(self, url: str) -> None:
        super().__init__(url, "broadcast listener (Redis Pub/Sub)")
        self._channels: set[str] = set()
        self._pubsub: PubSub | None = None  # the live session's; None while reconnecting
        self._confirmed: dict[str, asyncio.Future[None]] = {}

    async def _session(self, connected: Callable[[], None]) -> None:
        assert self._client is not None and self._deliver is not None
        pubsub = self._client.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
            self._pubsub = pubsub  # from here on, new channels are subscribed on this connection
            if self._channels:
                await pubsub.subscribe(*self._channels)
            connected()
            while True:
                still_wanted()
                item = await pubsub.get_message(timeout=None)
                if item is not None:
                    self._handle(item)
        finally:
            self._pubsub = None
            with contextlib.suppress(*OUTAGE):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _handle(self, item: dict[str, Any]) -> None:
        assert self._deliver is not None
        channel = item["channel"].decode()
        if item["type"] == "subscribe":
            waiter = self._confirmed.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif item["type"] == "message":
            text = item["data"].decode()
            try:
                message = json.loads(text)
            except ValueError:
                log.warning("ignored a message on %r that is not JSON (published by something else?)", channel)
                return
            self._deliver(Event(channel, message, text))

    async def subscribe(self, channel: str) -> None:
        """Subscribe and wait for Redis to confirm; while reconnecting, the next session subscribes it."""
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None:
            return
        waiter = self._confirmed.setdefault(channel, asyncio.get_running_loop().create_future())
        with contextlib.suppress(*OUTAGE, TimeoutError):  # a lost connection: the listener resubscribes
            await pubsub.subscribe(channel)
            async with asyncio.timeout(2.0):
                await asyncio.shield(waiter)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(*OUTAGE):
                await pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any, text: str) -> int:
        """Returns how many processes' listeners Redis handed it to."""
        listeners = await self.command(f"publishing to {channel!r}", lambda client: client.publish(channel, text))
        return int(listeners)

    async def replay(self, channel: str, after_id: str) -> list[Event]:
        return []
