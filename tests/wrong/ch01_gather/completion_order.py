"""Runs everything at once, but collects results in the order they finish (as_completed).

Fails: in the order of the items
"""

import asyncio
from collections.abc import Awaitable, Callable


async def fetch_all(fetch: Callable[[str], Awaitable[str]], items: list[str]) -> list[str]:
    results = []
    for next_done in asyncio.as_completed([fetch(item) for item in items]):
        results.append(await next_done)
    return results
