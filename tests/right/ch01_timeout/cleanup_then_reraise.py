"""asyncio.timeout, plus an explicit `except CancelledError: raise` that documents the caller's cancel goes through."""

import asyncio


async def fetch_with_timeout(fetch, item, seconds, default):
    try:
        async with asyncio.timeout(seconds):
            return await fetch(item)
    except asyncio.CancelledError:
        raise  # somebody cancelled us: let it through
    except TimeoutError:
        return default
