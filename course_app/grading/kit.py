"""Helpers that checks share: serve the learner's app on a real socket, talk to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import httpx

from course_app.server import BackgroundServer

__all__ = ["learner_app", "serve", "http_client"]


def learner_app(learner: ModuleType, name: str = "app") -> Any:
    """The learner's ASGI app, with a clear message when it is missing."""
    app = getattr(learner, name, None)
    if app is None:
        from course_app.grading.checker import CheckFailed

        raise CheckFailed(f"Your file has no `{name}`. Keep the `{name} = FastAPI()` line from the original file.")
    return app


@asynccontextmanager
async def serve(app: Any, **options: Any) -> AsyncIterator[BackgroundServer]:
    """Run ``app`` with uvicorn on a free port in a background thread for the duration."""
    from course_app.grading.checker import CheckFailed
    from course_app.server import ServerError

    try:
        server = await BackgroundServer(app, **options).__aenter__()
    except ServerError as err:
        raise CheckFailed(f"Your app could not start: {err}") from None
    try:
        yield server
    finally:
        await server.__aexit__(None, None, None)


@asynccontextmanager
async def http_client(server: BackgroundServer, timeout: float = 5.0) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=timeout) as client:
        yield client
