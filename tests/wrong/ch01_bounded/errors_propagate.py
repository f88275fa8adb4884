"""Bounds correctly but drops return_exceptions, so the first failing fetch sinks the whole batch.

Fails: in that item's place
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_bounded(fetch: Callable[[str], Awaitable[Any]], items: list[str], limit: int) -> list[Any]:
    slots = asyncio.Semaphore(limit)

    async def fetch_one(item: str) -> Any:
        async with slots:
            return await fetch(item)

    return list(await asyncio.gather(*(fetch_one(item) for item in items)))
