"""What both Redis backends share: a client that fails fast, clear outage messages, and a reconnect loop.

One-shot commands (PUBLISH, XADD, XRANGE) go through ``RedisBackend.command``:
after a Redis restart every idle pooled connection is dead, and redis-py 8.1
hands them out unchecked (its pool skips the check while maintenance
notifications are ``"auto"``, the default), so the first command on each one
fails with "Connection closed by server". ``command`` drops the idle
connections and tries once more at once on a fresh one; a second failure is
the outage. The listener does not use it: it has its own loop with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from course_app.realtime.backends.base import BroadcastUnavailable, Deliver

__all__ = ["OUTAGE", "Listener", "RedisBackend", "client_for", "ping", "still_wanted", "unavailable"]

log = logging.getLogger("course_app.realtime")

OUTAGE = (RedisError, OSError)  # what a Redis that went away raises (ConnectionError, TimeoutError, resets)
DEAD_CONNECTION = (RedisConnectionError, RedisTimeoutError, OSError)  # worth one more try on a fresh connection

R = TypeVar("R")


def client_for(url: str) -> aioredis.Redis:
    """A client that reports an outage at once: our own loop reconnects, with backoff, instead of redis-py's retries."""
    return aioredis.from_url(url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2.0)


def unavailable(url: str, err: BaseException, doing: str) -> BroadcastUnavailable:
    return BroadcastUnavailable(
        f"Redis at {url} did not answer while {doing} ({type(err).__name__}: {err}). "
        "Is it running? Try again in a moment."
    )


async def ping(client: aioredis.Redis, url: str, timeout: float = 3.0) -> None:
    """Raise BroadcastUnavailable naming the URL when Redis does not answer PING in time."""
    try:
        async with asyncio.timeout(timeout):
            await client.ping()
    except (*OUTAGE, TimeoutError) as err:
        raise BroadcastUnavailable(
            f"Redis at {url} did not answer ({type(err).__name__}: {err or 'no reply within %g s' % timeout}). "
            "Start Redis there, or unset REDIS_URL so the course starts its own."
        ) from err


def still_wanted() -> None:
    """Raise CancelledError if the current task was cancelled, even if that CancelledError got lost.

    A cancel that reaches redis-py at the wrong moment can come back as a
    connection error, or not at all; a listener that carried on would keep its
    owner waiting forever on shutdown (seen: 15 of 160 Broadcast exits right
    after a Redis restart hung). ``Task.cancelling()`` still counts the request.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


Session = Callable[[Callable[[], None]], Awaitable[None]]


class Listener:
    """Run ``session(connected)`` forever: when Redis drops it, wait (exponential backoff, jitter) and run it again.

    ``session`` calls ``connected()`` once it is subscribed; ``ready`` is set from
    then on, and cleared while the connection is down. One warning when the
    connection is lost, one line when it is back: an outage is news, not a crash.
    """

    def __init__(self, url: str, what: str, *, base: float = 0.05, cap: float = 1.0) -> None:
        self.url = url
        self.what = what
        self.base = base
        self.cap = cap
        self.ready = asyncio.Event()
        self.reconnects = 0

    async def run(self, session: Session) -> None:
        delay, down_since = self.base, None
        loop = asyncio.get_running_loop()

        def connected() -> None:
            nonlocal delay, down_since
            self.ready.set()
            delay = self.base
            if down_since is not None:
                self.reconnects += 1
                log.warning("%s: back on Redis at %s after %.1f s; resubscribed", self.what, self.url,
                            loop.time() - down_since)
                down_since = None

        while True:
            try:
                await session(connected)
                reason = "the session ended"
            except OUTAGE as err:
                reason = f"{type(err).__name__}: {err}"
            except Exception:  # a bug in our own code: say so loudly, then keep the listener alive
                log.exception("%s: unexpected error; reconnecting", self.what)
                reason = "unexpected error"
            still_wanted()
            self.ready.clear()
            if down_since is None:
                down_since = loop.time()
                log.warning("%s: lost Redis at %s (%s); reconnecting with backoff", self.what, self.url, reason)
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self.cap)


class RedisBackend:
    """The lifetime both Redis backends share: a fail-fast client checked with PING at start, and
    one ``Listener`` that runs the subclass's ``_session`` again after every outage."""

    def __init__(self, url: str, what: str) -> None:
        self.url = url
        self.listener = Listener(url, what)
        self._client: aioredis.Redis | None = None
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._client = client_for(self.url)
        try:
            await ping(self._client, self.url)
        except BaseException:
            await self._client.aclose()
            raise
        self._deliver = deliver

    async def ready(self) -> None:
        await self.listener.ready.wait()

    async def listen(self) -> None:
        await self.listener.run(self._session)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def command(self, doing: str, call: Callable[[aioredis.Redis], Awaitable[R]]) -> R:
        """Run ``call(client)``; if its pooled connection was dead, once more at once on a fresh one.

        Raises BroadcastUnavailable (saying what we were ``doing``) when the second
        try fails too, or when Redis answered with an error.
        """
        client = self._client
        assert client is not None, "Redis command before start: use `async with Broadcast(...)`"
        try:
            try:
                return await call(client)
            except DEAD_CONNECTION:
                # After a restart every idle connection is dead, not only this one (which redis-py
                # already disconnected): drop them all, so the retry connects afresh.
                await client.connection_pool.disconnect(inuse_connections=False)
            return await call(client)
        except OUTAGE as err:
            raise unavailable(self.url, err, doing) from None

    async def _session(self, connected: Callable[[], None]) -> None:
        raise NotImplementedError
