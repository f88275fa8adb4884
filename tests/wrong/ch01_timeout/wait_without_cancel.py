"""Uses asyncio.wait(timeout=...) and returns the default, but leaves the slow fetch running.

Fails: still running
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_with_timeout(fetch: Callable[[str], Awaitable[Any]], item: str, seconds: float, default: Any) -> Any:
    task = asyncio.ensure_future(fetch(item))
    done, _pending = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        return task.result()
    return default
