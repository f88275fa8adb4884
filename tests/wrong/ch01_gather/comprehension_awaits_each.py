"""A list comprehension with await inside still waits for each fetch before starting the next.

Fails: in flight at once
"""

from collections.abc import Awaitable, Callable


async def fetch_all(fetch: Callable[[str], Awaitable[str]], items: list[str]) -> list[str]:
    return [await fetch(item) for item in items]
