"""Adds the audit to the injected BackgroundTasks, then returns a JSONResponse with its own
background=BackgroundTask(send_welcome, ...): the response's background replaces the injected
tasks, so the audit entry is silently never written.

Fails: No audit entry at all
"""

from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

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
async def signup(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(write_audit, email)
    return JSONResponse({"message": "Welcome!"}, status_code=202, background=BackgroundTask(send_welcome, email))
