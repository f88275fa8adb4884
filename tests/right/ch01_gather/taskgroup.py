"""A TaskGroup starts one task per item; the block ends when all are done."""

import asyncio


async def fetch_all(fetch, items):
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(fetch(item)) for item in items]
    return [task.result() for task in tasks]
