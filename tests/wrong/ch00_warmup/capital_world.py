"""Greets by name, but changes the default to "World": GET /hello answers "Hello, World!".

Fails: greets the world
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello(name: str = "World") -> dict[str, str]:
    return {"message": f"Hello, {name}!"}
