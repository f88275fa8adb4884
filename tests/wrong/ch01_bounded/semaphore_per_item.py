"""Creates the semaphore inside fetch_one, so every item gets its own and nothing is bounded.

Fails: never more than
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_bounded(fetch: Callable[[str], Awaitable[Any]], items: list[str], limit: int) -> list[Any]:
    async def fetch_one(item: str) -> Any:
        async with asyncio.Semaphore(limit):
            return await fetch(item)

    return list(await asyncio.gather(*(fetch_one(item) for item in items), return_exceptions=True))
