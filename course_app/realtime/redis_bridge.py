"""Bridge a local Hub to a Redis Pub/Sub channel so every worker sees every message.

Publish goes to Redis; one listener task per process reads the channel and
publishes into the local hub. redis-py resubscribes after a reconnect, but
whatever was published while we were away is lost: Pub/Sub is at-most-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis.asyncio as aioredis

from course_app.realtime.hub import Hub

__all__ = ["RedisBridge"]

log = logging.getLogger(__name__)


class RedisBridge:
    def __init__(self, url: str, channel: str, hub: Hub) -> None:
        self.url = url
        self.channel = channel
        self.hub = hub
        self._client: aioredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def __aenter__(self) -> "RedisBridge":
        self._client = aioredis.from_url(self.url)
        self._task = asyncio.create_task(self._listen(), name=f"redis-listen-{self.channel}")
        await asyncio.wait_for(self._subscribed.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        finally:
            if self._client is not None:
                await self._client.aclose()

    async def publish(self, message: Any) -> int:
        """Send to every worker (this one included, via the listener); returns Redis's receiver count."""
        assert self._client is not None, "use `async with RedisBridge(...)` first"
        return int(await self._client.publish(self.channel, json.dumps(message)))

    async def _listen(self) -> None:
        assert self._client is not None
        backoff = 0.1
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._subscribed.set()
                    backoff = 0.1
                    async for item in pubsub.listen():
                        if item["type"] == "message":
                            self.hub.publish(json.loads(item["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as err:  # connection lost: wait, then subscribe again
                log.warning("Redis listener lost its connection (%s); retrying in %.1f s", err, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
