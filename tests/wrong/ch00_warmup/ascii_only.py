"""Strips characters it thinks are unsafe (anything not ASCII letters or spaces) from the name first.

Fails: greets any name as given
"""

import re

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello(name: str = "world") -> dict[str, str]:
    safe = re.sub(r"[^A-Za-z ]", "", name)
    return {"message": f"Hello, {safe}!"}
