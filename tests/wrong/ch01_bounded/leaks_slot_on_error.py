"""Acquires and releases by hand; a fetch that raises skips release() and keeps its slot forever.

Fails: its slot was not given back
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_bounded(fetch: Callable[[str], Awaitable[Any]], items: list[str], limit: int) -> list[Any]:
    slots = asyncio.Semaphore(limit)

    async def fetch_one(item: str) -> Any:
        await slots.acquire()
        result = await fetch(item)
        slots.release()
        return result

    return list(await asyncio.gather(*(fetch_one(item) for item in items), return_exceptions=True))
