"""Redis Streams: every message is an entry with an id, so a reader can resume from the last id it saw.

Publishing is ``XADD channel MAXLEN ~ maxlen * data <json>``: the stream keeps
about ``maxlen`` recent entries. One listener per process runs ``XREAD BLOCK``
over every subscribed stream, each from the last id it read; after a Redis
restart it continues from those ids, so nothing is skipped and nothing is read
twice. A subscriber that passes ``last_id`` first gets what it missed (XRANGE).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any


from course_app.realtime.backends._redis import RedisBackend, still_wanted
from course_app.realtime.backends.base import Event

__all__ = ["RedisStreamsBackend"]

log = logging.getLogger("course_app.realtime")

FIELD = b"data"


class RedisStreamsBackend(RedisBackend):
    replays = True

    def __init__(self, url: str, *, maxlen: int = 10_000, block_ms: int = 250, batch: int = 512) -> None:
        super().__init__(url, "broadcast listener (Redis Streams)")
        self.maxlen = maxlen
        self.block_ms = block_ms  # a newly subscribed stream joins the XREAD within this long
        self.batch = batch
        self._cursors: dict[str, str] = {}  # stream -> the last id the listener read
        self._changed = asyncio.Event()

    async def _session(self, connected: Callable[[], None]) -> None:
        client = self._client
        assert client is not None and self._deliver is not None
        await client.ping()
        connected()
        while True:
            still_wanted()
            if not self._cursors:
                self._changed.clear()
                await self._changed.wait()
                continue
            streams: Any = dict(self._cursors)
            reply: Any = await client.xread(streams, count=self.batch, block=self.block_ms)
            for stream, entries in reply or ():
                channel = stream.decode()
                for entry_id, fields in entries:
                    event = _event(channel, entry_id, fields)
                    if channel in self._cursors:  # still subscribed
                        self._cursors[channel] = event.id or self._cursors[channel]
                    if event.message is not _NOT_JSON:
                        self._deliver(event)

    async def subscribe(self, channel: str) -> None:
        """Start reading ``channel`` from its current end (the subscriber replays older entries itself)."""
        newest: Any = await self.command(f"finding the end of stream {channel!r}",
                                         lambda client: client.xrevrange(channel, "+", "-", count=1))
        self._cursors.setdefault(channel, newest[0][0].decode() if newest else "0-0")
        self._changed.set()

    async def unsubscribe(self, channel: str) -> None:
        self._cursors.pop(channel, None)

    async def publish(self, channel: str, message: Any, text: str) -> None:
        await self.command(f"adding to stream {channel!r}",
                           lambda client: client.xadd(channel, {FIELD: text}, maxlen=self.maxlen, approximate=True))
        return None  # readers pull at their own pace: nobody has it yet

    async def replay(self, channel: str, after_id: str) -> list[Event]:
        """Every entry of ``channel`` after ``after_id`` still in the stream, oldest first."""
        entries: Any = await self.command(f"replaying stream {channel!r}",
                                          lambda client: client.xrange(channel, f"({after_id}", "+"))
        events = [_event(channel, entry_id, fields) for entry_id, fields in entries]
        return [event for event in events if event.message is not _NOT_JSON]


_NOT_JSON = object()


def _event(channel: str, entry_id: bytes, fields: dict[bytes, bytes]) -> Event:
    text = fields.get(FIELD, b"").decode()
    try:
        message: Any = json.loads(text)
    except ValueError:
        log.warning("ignored entry %s on stream %r: no JSON %r field", entry_id, channel, FIELD.decode())
        message = _NOT_JSON
    return Event(channel, message, text, entry_id.decode())
