"""Run a connection's jobs side by side; the first to finish ends them all.

A WebSocket handler usually has two jobs: read what the client sends, and
write what the server has for it. A handler that only writes never notices the
client has left; running a reader next to it does, and ends the writer too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

__all__ = ["first_completed"]


async def first_completed(*jobs: Awaitable[None]) -> None:
    """Run the jobs together; when the first one ends, cancel the rest (and re-raise its error)."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
