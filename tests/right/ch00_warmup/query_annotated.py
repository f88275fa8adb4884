"""Declares the query parameter explicitly with Annotated[str, Query()] and a default."""

from typing import Annotated

from fastapi import FastAPI, Query

app = FastAPI()


@app.get("/hello")
async def hello(name: Annotated[str, Query()] = "world") -> dict[str, str]:
    return {"message": "Hello, " + name + "!"}
