"""Moves the welcome message to the background and drops the audit entry altogether.

Fails: welcome first, audit second
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
    background_tasks.add_task(send_welcome, email)
    return {"message": "Welcome!"}
