"""Bounds correctly, but appends each result when it arrives: the list is in finishing order.

Fails: in the order of the items
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_bounded(fetch: Callable[[str], Awaitable[Any]], items: list[str], limit: int) -> list[Any]:
    slots = asyncio.Semaphore(limit)
    results: list[Any] = []

    async def fetch_one(item: str) -> None:
        async with slots:
            try:
                results.append(await fetch(item))
            except Exception as err:
                results.append(err)

    await asyncio.gather(*(fetch_one(item) for item in items))
    return results
