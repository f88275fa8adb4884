"""Starts every task, waits for the first one only, then reads results that are not there yet.

Fails: InvalidStateError
"""

import asyncio
from collections.abc import Awaitable, Callable


async def fetch_all(fetch: Callable[[str], Awaitable[str]], items: list[str]) -> list[str]:
    tasks = [asyncio.create_task(fetch(item)) for item in items]
    await tasks[0]
    return [task.result() for task in tasks]
