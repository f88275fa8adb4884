"""Catches the fetch's exception inside fetch_one and returns None, "so the list stays clean":
the caller can no longer tell which error happened, or that it was an error at all.

Fails: the FetchError object itself
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_bounded(fetch: Callable[[str], Awaitable[Any]], items: list[str], limit: int) -> list[Any]:
    slots = asyncio.Semaphore(limit)

    async def fetch_one(item: str) -> Any:
        async with slots:
            try:
                return await fetch(item)
            except Exception:
                return None

    return list(await asyncio.gather(*(fetch_one(item) for item in items)))
