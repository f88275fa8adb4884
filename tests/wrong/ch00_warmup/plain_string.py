"""Returns the greeting as a bare string: the reply is the JSON string "Hello, Ada!", not an object with a message field.

Fails: exactly {"message": "Hello, Ada!"}
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello(name: str = "world") -> str:
    return f"Hello, {name}!"
