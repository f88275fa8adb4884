"""Writes the greeting from memory and drops the comma: "Hello Ada!".

Fails: greets Ada
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello(name: str = "world") -> dict[str, str]:
    return {"message": f"Hello {name}!"}
