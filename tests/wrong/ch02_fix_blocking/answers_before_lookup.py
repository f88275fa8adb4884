"""Starts the lookup in the background and answers at once with what it knows: fast, never blocks,
and never returns the stock either.

Fails: returned, unchanged
"""

import asyncio
import time

from fastapi import FastAPI

app = FastAPI()
running: set[asyncio.Task] = set()


def slow_lookup(sku: str) -> dict:
    time.sleep(0.5)
    return {"sku": sku, "in_stock": len(sku) % 4}


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


@app.get("/stock/{sku}")
async def stock(sku: str) -> dict:
    task = asyncio.create_task(asyncio.to_thread(slow_lookup, sku))
    running.add(task)
    task.add_done_callback(running.discard)
    return {"sku": sku, "status": "looking it up"}
