"""Starts both with asyncio.create_task instead of BackgroundTasks: they run side by side, so the
fast audit entry is written long before the slow welcome message (and nobody keeps the tasks).

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


async def audit_later(email: str) -> None:
    write_audit(email)


@app.post("/signup", status_code=202)
async def signup(email: str, background_tasks: BackgroundTasks) -> dict:
    asyncio.create_task(send_welcome(email))
    asyncio.create_task(audit_later(email))
    return {"message": "Welcome!"}
