"""One background task that does both, in order: the welcome, then the audit (in a thread, it is sync)."""

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


async def follow_up(email: str) -> None:
    await send_welcome(email)
    await asyncio.to_thread(write_audit, email)


@app.post("/signup")
async def signup(email: str, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(follow_up, email)
    return {"message": "Welcome!"}
