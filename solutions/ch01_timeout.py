"""Chapter 01, exercise 3: give up on a slow call, and really stop it.

Goal: fetch_with_timeout(fetch, item, seconds, default) returns the result of
fetch(item) when it arrives within `seconds`; otherwise it returns `default`
after about `seconds`, and the slow fetch is cancelled (not left running).

Three more rules: never block the event loop while you wait (no time.sleep);
if fetch(item) raises an error of its own, let it through (only running out of
time gives `default`); and if the caller cancels fetch_with_timeout itself,
that cancellation must go through (do not turn it into `default`).

Check it: run check("ch01_timeout") in the notebook, or `course check ch01_timeout` in a terminal.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def fetch_with_timeout(fetch: Callable[[str], Awaitable[Any]], item: str, seconds: float, default: Any) -> Any:
    # asyncio.timeout (Python 3.11+) cancels the code inside the block when time
    # is up: fetch gets a CancelledError at the await it is stuck on, runs its
    # cleanup, and the block turns that cancellation into a TimeoutError, which
    # we answer with `default`. Only OUR deadline becomes TimeoutError: if the
    # caller cancels us, the CancelledError passes through untouched.
    # `await asyncio.wait_for(fetch(item), seconds)` does the same job.
    try:
        async with asyncio.timeout(seconds):
            return await fetch(item)
    except TimeoutError:
        return default
