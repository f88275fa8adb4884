"""Moves the call to a private executor with a single thread.
The loop stays free, but the lookups queue behind one another: no overlap.

Fails: requests at once overlap
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
import time

from fastapi import FastAPI

app = FastAPI()


def slow_lookup(sku: str) -> dict:
    time.sleep(0.5)
    return {"sku": sku, "in_stock": len(sku) % 4}


@app.get("/health")
async def health() -> dict:
    return {"ok": True}

pool = ThreadPoolExecutor(max_workers=1)


@app.get("/stock/{sku}")
async def stock(sku: str) -> dict:
    return await asyncio.get_running_loop().run_in_executor(pool, slow_lookup, sku)
