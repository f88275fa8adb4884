"""Adds the name as a second field: the reply is no longer exactly {"message": ...}.

Fails: exactly {"message": "Hello, Ada!"}
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello(name: str = "world") -> dict[str, str]:
    return {"message": f"Hello, {name}!", "name": name}
