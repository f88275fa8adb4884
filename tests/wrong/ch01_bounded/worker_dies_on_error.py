"""A pool of `limit` workers taking items from a queue, but with no try/except in the worker:
the first fetch that raises ends its worker, and one fewer fetch runs from then on.

Fails: its slot was not given back
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_bounded(fetch: Callable[[str], Awaitable[Any]], items: list[str], limit: int) -> list[Any]:
    results: list[Any] = [None] * len(items)
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for index, item in enumerate(items):
        queue.put_nowait((index, item))

    async def worker() -> None:
        while not queue.empty():
            index, item = queue.get_nowait()
            results[index] = await fetch(item)

    await asyncio.gather(*(worker() for _ in range(limit)), return_exceptions=True)
    return results
