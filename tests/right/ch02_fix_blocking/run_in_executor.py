"""loop.run_in_executor with the default executor (what asyncio.to_thread uses underneath)."""

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
    return await asyncio.get_running_loop().run_in_executor(None, slow_lookup, sku)
