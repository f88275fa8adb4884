"""Catches the failure and logs it with its traceback, but as a warning: alerts that watch for
errors never fire, and the failure reads like something that can be ignored.

Fails: logged at WARNING level
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
        logger.warning("task %s had a problem", task.__name__, exc_info=True)


@app.post("/checkout")
async def checkout(order_id: str, background_tasks: BackgroundTasks) -> dict:
    for task in (email_receipt, update_stats, notify_warehouse):
        background_tasks.add_task(run_safely, task, order_id)
    return {"order_id": order_id, "status": "paid"}
