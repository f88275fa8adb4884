"""Chapter 02: stop one slow lookup from freezing every request.

Goal: GET /stock/{sku} still answers with what slow_lookup() returns, but six
requests at once now overlap (about 0.5 s in all, not 3 s), and GET /health
answers at once while lookups are running.

slow_lookup() stands for a library you cannot change: it blocks (time.sleep),
and it has no async version.

Check it: run check("ch02_fix_blocking") in the notebook, or `course check ch02_fix_blocking` in a terminal.
"""

import asyncio
import time

from fastapi import FastAPI

app = FastAPI()


def slow_lookup(sku: str) -> dict:
    """A blocking call from a library you cannot change (think: a legacy database driver)."""
    time.sleep(0.5)
    return {"sku": sku, "in_stock": len(sku) % 4}


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


@app.get("/stock/{sku}")
async def stock(sku: str) -> dict:
    # asyncio.to_thread runs the blocking call in a worker thread and gives the
    # event loop back while it waits, so other requests (and /health) go on.
    # Making the endpoint a plain `def` works too: FastAPI then runs the whole
    # endpoint in its threadpool. What does not work is anything that still calls
    # slow_lookup on the loop's thread, however `async` the code around it looks.
    return await asyncio.to_thread(slow_lookup, sku)
