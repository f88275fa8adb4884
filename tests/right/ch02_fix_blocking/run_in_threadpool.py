"""Starlette's run_in_threadpool: the same 40-seat pool FastAPI uses for `def` endpoints."""

import time

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

app = FastAPI()


def slow_lookup(sku: str) -> dict:
    time.sleep(0.5)
    return {"sku": sku, "in_stock": len(sku) % 4}


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


@app.get("/stock/{sku}")
async def stock(sku: str) -> dict:
    return await run_in_threadpool(slow_lookup, sku)
