"""acquire() and release() by hand, with the release in `finally` so a failure gives the slot back."""

import asyncio


async def fetch_bounded(fetch, items, limit):
    slots = asyncio.Semaphore(limit)

    async def fetch_one(item):
        await slots.acquire()
        try:
            return await fetch(item)
        finally:
            slots.release()

    return await asyncio.gather(*(fetch_one(item) for item in items), return_exceptions=True)
