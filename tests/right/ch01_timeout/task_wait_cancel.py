"""A task and asyncio.wait(timeout=...), then cancel and await what was given up on, also when we are cancelled."""

import asyncio
import contextlib


async def fetch_with_timeout(fetch, item, seconds, default):
    task = asyncio.ensure_future(fetch(item))
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task})
    if task in done:
        return task.result()
    return default
