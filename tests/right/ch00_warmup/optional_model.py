"""An optional name (None when absent) and a Pydantic response model; a plain `def` endpoint."""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Greeting(BaseModel):
    message: str


@app.get("/hello", response_model=Greeting)
def hello(name: str | None = None) -> Greeting:
    who = "world" if name is None else name
    return Greeting(message=f"Hello, {who}!")
