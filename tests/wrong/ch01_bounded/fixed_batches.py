"""Fetches in fixed batches of `limit`: never too many, but each batch waits for its slowest
fetch, so the slots of the quick ones sit idle while items are still waiting.

Fails: slots were in use while
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_bounded(fetch: Callable[[str], Awaitable[Any]], items: list[str], limit: int) -> list[Any]:
    results: list[Any] = []
    for start in range(0, len(items), limit):
        batch = items[start:start + limit]
        results.extend(await asyncio.gather(*(fetch(item) for item in batch), return_exceptions=True))
    return results
