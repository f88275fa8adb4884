"""Where a Broadcast's messages travel: this process only, Redis Pub/Sub, or Redis Streams.

``backend_for(url)`` picks one from a URL:

* ``memory://``                      -- one process, nothing to start;
* ``redis://host:port/db``           -- Redis Pub/Sub: every process, at most once;
* ``redis-streams://host:port/db``   -- Redis Streams: every process, with replay from the last id seen.
"""

from __future__ import annotations

from course_app.realtime.backends.base import Backend, BroadcastUnavailable, Deliver, Event

__all__ = ["Backend", "BroadcastUnavailable", "Deliver", "Event", "backend_for"]


def backend_for(url: str) -> Backend:
    """The backend a URL names; an unknown scheme says which ones exist."""
    scheme = url.partition("://")[0]
    if scheme == "memory":
        from course_app.realtime.backends.memory import MemoryBackend

        return MemoryBackend()
    if scheme in ("redis", "rediss"):
        from course_app.realtime.backends.redis_pubsub import RedisPubSubBackend

        return RedisPubSubBackend(url)
    if scheme in ("redis-streams", "rediss-streams"):
        from course_app.realtime.backends.redis_streams import RedisStreamsBackend

        return RedisStreamsBackend(url.replace("-streams://", "://", 1))
    raise ValueError(
        f"No broadcast backend for {url!r}: use memory://, redis://host:port/db (Pub/Sub) "
        "or redis-streams://host:port/db (Streams, with replay)."
    )
