"""Gathers in batches of ten "to be gentle on the server": at most ten in flight,
and each batch waits for its slowest fetch before the next batch starts.

Fails: all in flight at once
"""

import asyncio
from collections.abc import Awaitable, Callable


async def fetch_all(fetch: Callable[[str], Awaitable[str]], items: list[str]) -> list[str]:
    results: list[str] = []
    for start in range(0, len(items), 10):
        batch = items[start:start + 10]
        results.extend(await asyncio.gather(*(fetch(item) for item in batch)))
    return results
