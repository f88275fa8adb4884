"""Polls the task every 50 ms with time.sleep, with an `await asyncio.sleep(0)` so the fetch gets a turn:
each pause is short, but together they hold the event loop most of the time.

Fails: the event loop was blocked
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_with_timeout(fetch: Callable[[str], Awaitable[Any]], item: str, seconds: float, default: Any) -> Any:
    task = asyncio.ensure_future(fetch(item))
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0)
            if task.done():
                return task.result()
            time.sleep(0.05)
        return default
    finally:
        task.cancel()
