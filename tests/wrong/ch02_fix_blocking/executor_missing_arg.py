"""Hands the call to the default executor but forgets to pass the sku: run_in_executor(None, slow_lookup)
calls slow_lookup() with no argument, so every request is a 500 with a TypeError in the server log.

Fails: TypeError
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
    return await asyncio.get_running_loop().run_in_executor(None, slow_lookup)
