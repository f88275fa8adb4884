"""Adds asyncio.to_thread(...) as the task, which is the coroutine again, not a function:
add_task(asyncio.to_thread(send_welcome, email)) queues a coroutine object.

Fails: add_task(send_welcome, email)
"""

import asyncio
import time

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()
outbox: list[dict] = []


async def send_welcome(email: str) -> None:
    await asyncio.sleep(1.5)
    outbox.append({"event": "welcome", "email": email, "at": time.monotonic()})


def write_audit(email: str) -> None:
    outbox.append({"event": "audit", "email": email, "at": time.monotonic()})


@app.post("/signup", status_code=202)
async def signup(email: str, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(asyncio.to_thread(send_welcome, email))
    background_tasks.add_task(write_audit, email)
    return {"message": "Welcome!"}
