"""Chapter 03: one failing background task must not cancel the ones after it.

Goal: POST /checkout?order_id=A1 queues three tasks (receipt, stats, warehouse).
If one of them raises, the others still run, and the failure is reported:
logged at ERROR level with its traceback (logger.exception), so it shows up in
your logs instead of vanishing.

Check it: run check("ch03_resilient_tasks") in the notebook, or `course check ch03_resilient_tasks` in a terminal.
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
    """Run one background task."""
    # TODO: if the task raises, report it with logger.exception(...) and carry on,
    # so the tasks queued after this one still run.
    task(order_id)


@app.post("/checkout")
async def checkout(order_id: str, background_tasks: BackgroundTasks) -> dict:
    for task in (email_receipt, update_stats, notify_warehouse):
        background_tasks.add_task(run_safely, task, order_id)
    return {"order_id": order_id, "status": "paid"}
