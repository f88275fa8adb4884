"""Run a connection's jobs side by side; the first to finish ends them all.

A WebSocket handler usually has two jobs: read what the client sends, and
write what the server has for it. A handler that only writes never notices the
client has left; running a reader next to it does, and ends the writer too.

A job that ends with ``WebSocketDisconnect`` has ended normally: the peer went
away (the writer usually learns it first, from a send that found the socket
gone). Any other error is a bug and is raised once the other jobs are stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.websockets import WebSocketDisconnect

__all__ = ["first_completed"]


async def first_completed(*jobs: Awaitable[None]) -> None:
    """Run the jobs together; when the first one ends, cancel the rest and wait for them.

    Errors other than a disconnect are re-raised (the first one, in job order);
    every task's outcome is collected, so nothing is left "never retrieved".
    """
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(
            outcome, (WebSocketDisconnect, asyncio.CancelledError)
        ):
            raise outcome
