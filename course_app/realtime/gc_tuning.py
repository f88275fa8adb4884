"""Garbage-collector settings for a process that fans out to many WebSockets.

    async with Broadcast(url) as broadcast:
        tune_gc()        # once, after start-up: in the lifespan, before serving
        yield

Why: CPython's cyclic collector runs its youngest generation whenever 700 more
container objects were allocated than freed. One broadcast to 1,000 members
has about that many in flight at once (a scheduled wake-up per member, a new
waiting future per writer), so with the default the collector runs about once
per broadcast, in the middle of it. What it finds alive then (every parked
writer's future) is promoted to the older generations, and every hundred or so
broadcasts that triggers a full collection, which walks every object of every
connection (about 180 per WebSocket on uvicorn): 100-500 ms during which no
member gets anything. That pause is the fan-out benchmark's p99 tail.

``tune_gc`` does two things. ``gc.freeze()`` moves everything start-up made
(modules, the app: about 55,000 objects) out of every later collection, and
the youngest generation's threshold goes from 700 to ``young`` (10,000),
above what one broadcast to a few thousand members has in flight: the
collector then runs when memory really grows (connections arriving), not at
every broadcast. Cycles are still found and freed, a little later. It changes
the whole process, so it belongs to the server's start-up, never to a library.
"""

from __future__ import annotations

import gc

__all__ = ["tune_gc"]


def tune_gc(young: int = 10_000) -> tuple[int, int, int]:
    """Freeze what start-up allocated and collect the young generation every ``young`` net allocations.

    Returns the thresholds as they were, for ``gc.set_threshold(*old)`` (and
    ``gc.unfreeze()``) to undo it. Call it once per process, after start-up.
    """
    if young < 1:
        raise ValueError(f"young must be a positive number of allocations, got {young}")
    old: tuple[int, int, int] = gc.get_threshold()
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(young, old[1], old[2])
    return old
