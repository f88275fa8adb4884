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
    # TODO: stop waiting after `seconds`, cancel the fetch, and return `default` instead.
    return await fetch(item)
