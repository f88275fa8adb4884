"""`limit` workers take the next item from a queue as soon as they are free; errors are kept per item."""

import asyncio


async def fetch_bounded(fetch, items, limit):
    results = [None] * len(items)
    queue = asyncio.Queue()
    for index, item in enumerate(items):
        queue.put_nowait((index, item))

    async def worker():
        while not queue.empty():
            index, item = queue.get_nowait()
            try:
                results[index] = await fetch(item)
            except Exception as err:
                results[index] = err

    async with asyncio.TaskGroup() as group:
        for _ in range(min(limit, len(items))):
            group.create_task(worker())
    return results
