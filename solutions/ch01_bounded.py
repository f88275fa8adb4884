"""Chapter 01, exercise 2: at most `limit` fetches at once.

Goal: fetch_bounded(fetch, items, limit) fetches every item, never more than
`limit` at the same moment, yet keeps `limit` of them busy while work remains.
Results come back in the order of `items`.

Errors: when fetch(item) raises, its exception object takes that item's place
in the returned list (gather's return_exceptions=True does this), and the other
items still run. A failed fetch must give its slot back, or the rest wait forever.

Check it: run check("ch01_bounded") in the notebook, or `course check ch01_bounded` in a terminal.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_bounded(fetch: Callable[[str], Awaitable[Any]], items: list[str], limit: int) -> list[Any]:
    # One semaphore shared by every fetch_one: it holds `limit` slots. It must be
    # created here, once per call, not inside fetch_one (one semaphore per item
    # would bound nothing).
    slots = asyncio.Semaphore(limit)

    async def fetch_one(item: str) -> Any:
        # `async with` takes a slot (waiting while all `limit` are taken) and gives
        # it back when the block ends, also when fetch raises. A bare
        # acquire()/release() pair would leak the slot on the first error.
        async with slots:
            return await fetch(item)

    return list(await asyncio.gather(*(fetch_one(item) for item in items), return_exceptions=True))
