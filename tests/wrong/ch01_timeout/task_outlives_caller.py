"""Cancels its task on timeout, but when the caller cancels it, the task it started keeps running.

Fails: the fetch inside was cancelled too
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_with_timeout(fetch: Callable[[str], Awaitable[Any]], item: str, seconds: float, default: Any) -> Any:
    task = asyncio.ensure_future(fetch(item))
    done, _pending = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        return task.result()
    task.cancel()
    return default
