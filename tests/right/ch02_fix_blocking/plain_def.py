"""A plain `def` endpoint: FastAPI runs it in its threadpool, so blocking there holds one worker thread, not the loop."""

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
def stock(sku: str) -> dict:
    return slow_lookup(sku)
