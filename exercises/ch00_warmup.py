"""Chapter 00 warm-up: your first check.

Goal: GET /hello?name=Ada answers {"message": "Hello, Ada!"},
and GET /hello with no name answers {"message": "Hello, world!"}.

Check it: run check("ch00_warmup") in the notebook, or `course check ch00_warmup` in a terminal.
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello(name: str = "world") -> dict[str, str]:
    # TODO: greet the caller by name, e.g. {"message": "Hello, Ada!"}
    return {"message": "Hello?"}
