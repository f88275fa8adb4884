"""Queues one task that runs all three inside a single try/except: the failure is logged, but
everything after the failing task in that try block is skipped.

Fails: the tasks after it still run
"""

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


def run_safely(task, order_id: str) -> None:
    task(order_id)


def run_all(order_id: str) -> None:
    try:
        for task in (email_receipt, update_stats, notify_warehouse):
            run_safely(task, order_id)
    except Exception:
        logger.exception("checkout tasks failed for order %s", order_id)


@app.post("/checkout")
async def checkout(order_id: str, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(run_all, order_id)
    return {"order_id": order_id, "status": "paid"}
