"""Catches CancelledError along with TimeoutError "to be safe", so the caller can no longer cancel it.

Fails: caller cancels
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_with_timeout(fetch: Callable[[str], Awaitable[Any]], item: str, seconds: float, default: Any) -> Any:
    try:
        async with asyncio.timeout(seconds):
            return await fetch(item)
    except (TimeoutError, asyncio.CancelledError):
        return default
