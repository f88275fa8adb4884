"""Runs the lookup in a new thread, then waits for it with join().
join() is itself a blocking call, so the loop is frozen just the same.

Fails: the event loop was blocked
"""

import threading
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
    box = {}
    worker = threading.Thread(target=lambda: box.update(slow_lookup(sku)))
    worker.start()
    worker.join()
    return box
