"""Polls the task with time.sleep, which blocks the event loop: the fetch cannot even run.

Fails: the event loop was blocked
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_with_timeout(fetch: Callable[[str], Awaitable[Any]], item: str, seconds: float, default: Any) -> Any:
    task = asyncio.ensure_future(fetch(item))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if task.done():
            return task.result()
        time.sleep(0.01)  # look again in a moment
    task.cancel()
    return default
