"""Keeps the result in a variable and returns `result or default`: a fetch that answers 0, "" or []
in time is treated as if it had timed out.

Fails: falsy answers too
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_with_timeout(fetch: Callable[[str], Awaitable[Any]], item: str, seconds: float, default: Any) -> Any:
    result = None
    try:
        async with asyncio.timeout(seconds):
            result = await fetch(item)
    except TimeoutError:
        pass
    return result or default
