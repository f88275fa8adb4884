"""Filters the results with `if result`, "to skip failures": an empty-string result disappears too.

Fails: in the order of the items
"""

import asyncio
from collections.abc import Awaitable, Callable


async def fetch_all(fetch: Callable[[str], Awaitable[str]], items: list[str]) -> list[str]:
    results = await asyncio.gather(*(fetch(item) for item in items))
    return [result for result in results if result]
