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
    async def fetch_one(item: str) -> Any:
        # TODO: hold one of `limit` slots while fetch(item) runs, and give it back even when it raises.
        return await fetch(item)

    return list(await asyncio.gather(*(fetch_one(item) for item in items), return_exceptions=True))
