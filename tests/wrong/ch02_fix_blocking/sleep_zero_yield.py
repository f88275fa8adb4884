"""Adds `await asyncio.sleep(0)` around the call, hoping to "yield" to the loop.
The loop gets a turn before and after, but never during the 0.5 s of blocking.

Fails: the event loop was blocked
"""

import asyncio
import time

from fastapi import FastAPI

app = FastAPI()


def slow_lookup(sku: str) -> dict:
    time.sleep(0.5)
    return {"sku": sku, "in_stock": len(sku) % 4}


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


@app.get("/stock/{sku}")
async def stock(sku: str) -> dict:
    await asyncio.sleep(0)
    result = slow_lookup(sku)
    await asyncio.sleep(0)
    return result
