"""An async run_safely that hands each sync task to a thread, and a logger named after the module."""

import asyncio

import logging

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()
logger = logging.getLogger("shop.tasks")
outbox: list[str] = []


def email_receipt(order_id: str) -> None:
    outbox.append(f"receipt {order_id}")


def update_stats(order_id: str) -> None:
    outbox.append(f"stats {order_id}")


def notify_warehouse(order_id: str) -> None:
    outbox.append(f"warehouse {order_id}")

log = logging.getLogger(__name__)
TASKS = (email_receipt, update_stats, notify_warehouse)


async def run_safely(task, order_id: str) -> None:
    try:
        await asyncio.to_thread(task, order_id)
    except Exception:
        log.exception("%s failed for order %r; the next task runs anyway", task.__name__, order_id)


@app.post("/checkout")
async def checkout(order_id: str, background_tasks: BackgroundTasks) -> dict:
    for task in TASKS:
        background_tasks.add_task(run_safely, task, order_id)
    return {"order_id": order_id, "status": "paid"}
