"""What every backend offers a Broadcast, and the two things that cross the boundary: events and outages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from course_app.realtime.codes import CloseCode

__all__ = ["Backend", "BroadcastUnavailable", "Deliver", "Event"]


@dataclass(frozen=True, slots=True, eq=False)
class Event:
    """One published message as a subscriber sees it.

    ``message`` is the decoded JSON value; ``text`` is its JSON encoding (send it
    as is: it was encoded once for every subscriber); ``id`` is the Redis Streams
    entry id, None for the other backends.
    """

    channel: str
    message: Any
    text: str
    id: str | None = None


Deliver = Callable[[Event], int]  # fans an event out locally; returns how many subscribers queued it


class BroadcastUnavailable(ConnectionError):
    """The backend (Redis) did not answer: the message was not sent, or the broadcast could not start.

    ``code`` and ``reason`` are ready for a WebSocket close; an HTTP route answers 503.
    """

    code = CloseCode.TRY_AGAIN_LATER

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Backend(Protocol):
    """A Broadcast owns exactly one backend and calls it from one event loop.

    ``start`` connects (and raises BroadcastUnavailable when it cannot) and
    remembers ``deliver``, which the backend calls for every message that
    arrives; ``listen`` is the body of the Broadcast's one listener task (it
    returns at once when the backend has nothing to listen to); ``stop``
    releases the connections.
    """

    replays: bool  # True when subscribe(channel, last_id=...) can replay what was missed

    async def start(self, deliver: Deliver) -> None: ...

    async def ready(self) -> None: ...

    async def listen(self) -> None: ...

    async def stop(self) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channel: str, message: Any, text: str) -> int | None: ...

    async def replay(self, channel: str, after_id: str) -> list[Event]: ...
