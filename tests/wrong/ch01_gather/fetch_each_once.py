"""Fetches each distinct item only once, "to save calls", and copies the result to its repeats.
The goal says one fetch per item: a repeated item is fetched again (a price may have changed).

Fails: fetch called once per item
"""

import asyncio
from collections.abc import Awaitable, Callable


async def fetch_all(fetch: Callable[[str], Awaitable[str]], items: list[str]) -> list[str]:
    distinct = list(dict.fromkeys(items))
    results = dict(zip(distinct, await asyncio.gather(*(fetch(item) for item in distinct))))
    return [results[item] for item in items]
