"""Its own BackgroundTasks, attached to the response it returns (and no injected one to be replaced)."""

from fastapi.responses import JSONResponse

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


@app.post("/signup")
async def signup(email: str) -> JSONResponse:
    tasks = BackgroundTasks()
    tasks.add_task(send_welcome, email)
    tasks.add_task(write_audit, email)
    return JSONResponse({"message": "Welcome!"}, status_code=202, background=tasks)
