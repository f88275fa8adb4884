"""asyncio.wait_for: the same deadline-and-cancel in one call."""

import asyncio


async def fetch_with_timeout(fetch, item, seconds, default):
    try:
        return await asyncio.wait_for(fetch(item), seconds)
    except TimeoutError:
        return default
