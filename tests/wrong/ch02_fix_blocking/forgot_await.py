"""Hands the call to a thread but forgets `await`: the endpoint returns a coroutine, not the stock.

Fails: answers with what slow_lookup() returns
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
async def stock(sku: str):
    return asyncio.to_thread(slow_lookup, sku)
