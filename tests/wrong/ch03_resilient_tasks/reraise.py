"""Logs the failure, then re-raises it "to be safe": the exception still ends the run of tasks.

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
    try:
        task(order_id)
    except Exception:
        logger.exception("task %s failed", task.__name__)
        raise


@app.post("/checkout")
async def checkout(order_id: str, background_tasks: BackgroundTasks) -> dict:
    for task in (email_receipt, update_stats, notify_warehouse):
        background_tasks.add_task(run_safely, task, order_id)
    return {"order_id": order_id, "status": "paid"}
