"""Starts a task per item but returns the tasks instead of waiting for their results.

Fails: not their results
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_all(fetch: Callable[[str], Awaitable[str]], items: list[str]) -> list[Any]:
    return [asyncio.ensure_future(fetch(item)) for item in items]
