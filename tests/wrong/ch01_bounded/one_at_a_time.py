"""Plays it safe with a semaphore of 1: never too many, but also never more than one.

Fails: not fewer
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_bounded(fetch: Callable[[str], Awaitable[Any]], items: list[str], limit: int) -> list[Any]:
    slots = asyncio.Semaphore(1)

    async def fetch_one(item: str) -> Any:
        async with slots:
            return await fetch(item)

    return list(await asyncio.gather(*(fetch_one(item) for item in items), return_exceptions=True))
