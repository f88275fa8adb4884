"""Chapter 01, exercise 1: fetch everything at once.

Goal: fetch_all(fetch, items) calls fetch(item) for every item AT THE SAME TIME
and returns the results in the order of `items` (not in the order they finish).

`fetch` is an async function you are given: `await fetch("tea")` gives one result.
The version below is correct but slow: each fetch waits for the one before it.

Check it: run check("ch01_gather") in the notebook, or `course check ch01_gather` in a terminal.
"""

import asyncio
from collections.abc import Awaitable, Callable


async def fetch_all(fetch: Callable[[str], Awaitable[str]], items: list[str]) -> list[str]:
    # TODO: start every fetch before waiting for any of them, and keep the input order.
    results = []
    for item in items:
        results.append(await fetch(item))
    return results
