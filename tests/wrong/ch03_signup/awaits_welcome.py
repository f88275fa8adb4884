"""Moves only the audit entry to the background and still awaits the welcome message in the
endpoint: the order is right, but the caller waits the full 1.5 s.

Fails: the answer comes well before
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
    await send_welcome(email)
    background_tasks.add_task(write_audit, email)
    return {"message": "Welcome!"}
