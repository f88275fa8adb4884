"""Skips empty items before fetching ("nothing to fetch"): one result per item is no longer true.

Fails: in the order of the items
"""

import asyncio
from collections.abc import Awaitable, Callable


async def fetch_all(fetch: Callable[[str], Awaitable[str]], items: list[str]) -> list[str]:
    return list(await asyncio.gather(*(fetch(item) for item in items if item.strip())))
