"""Wraps the blocking call in an async helper and awaits it.
An `async def` around time.sleep still runs it on the loop's thread.

Fails: the event loop was blocked
"""

import time

from fastapi import FastAPI

app = FastAPI()


def slow_lookup(sku: str) -> dict:
    time.sleep(0.5)
    return {"sku": sku, "in_stock": len(sku) % 4}


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


async def lookup(sku: str) -> dict:
    return slow_lookup(sku)


@app.get("/stock/{sku}")
async def stock(sku: str) -> dict:
    return await lookup(sku)
