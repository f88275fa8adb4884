"""Makes the name required, so GET /hello with no name is a 422 error.

Fails: greets the world
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello(name: str) -> dict[str, str]:
    return {"message": f"Hello, {name}!"}
