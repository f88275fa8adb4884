"""Catches every exception "to be safe" and returns the default: a fetch that fails fast now looks
like a slow one, and the caller never learns what went wrong.

Fails: comes through unchanged
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_with_timeout(fetch: Callable[[str], Awaitable[Any]], item: str, seconds: float, default: Any) -> Any:
    try:
        async with asyncio.timeout(seconds):
            return await fetch(item)
    except Exception:
        return default
