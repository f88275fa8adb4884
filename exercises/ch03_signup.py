"""Chapter 03: answer the sign-up at once, and do the slow work after the response.

Goal: POST /signup?email=ada@example.com answers {"message": "Welcome!"} (status
200 or 202) well before the 1.5 s it takes to send the welcome message. After
the response, send_welcome() runs, then write_audit() runs, in that order.
Both write to `outbox`, so you (and the check) can see what happened and when.

Check it: run check("ch03_signup") in the notebook, or `course check ch03_signup` in a terminal.
"""

import asyncio
import time

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()
outbox: list[dict] = []


async def send_welcome(email: str) -> None:
    """Talks to a slow mail server: 1.5 s."""
    await asyncio.sleep(1.5)
    outbox.append({"event": "welcome", "email": email, "at": time.monotonic()})


def write_audit(email: str) -> None:
    """Appends to the audit trail (fast, synchronous)."""
    outbox.append({"event": "audit", "email": email, "at": time.monotonic()})


@app.post("/signup", status_code=202)
async def signup(email: str, background_tasks: BackgroundTasks) -> dict:
    # TODO: do not make the caller wait for these: run them after the response,
    # welcome message first, then the audit entry.
    await send_welcome(email)
    write_audit(email)
    return {"message": "Welcome!"}
