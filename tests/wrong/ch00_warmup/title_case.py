"""Tidies the name with .title() before greeting: "van Rossum" becomes "Van Rossum", "O'Brien" becomes "O'Brien" by luck.
The name is the caller's; greet it exactly as given.

Fails: greets any name as given
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello(name: str = "world") -> dict[str, str]:
    return {"message": f"Hello, {name.title()}!"}
