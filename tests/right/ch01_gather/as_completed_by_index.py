"""as_completed, with each result put back in its item's place by index."""

import asyncio


async def fetch_all(fetch, items):
    results = [None] * len(items)

    async def one(index, item):
        results[index] = await fetch(item)

    for finished in asyncio.as_completed([one(i, item) for i, item in enumerate(items)]):
        await finished
    return results
