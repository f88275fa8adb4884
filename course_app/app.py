"""create_app(): the one FastAPI app every chapter talks to.

Each chapter's demo routes live in course_app/chapters/<module>.py as a
``router``; this file only mounts them, serves the browser pages, and runs the
lifespan (the Redis bridge when REDIS_URL is set).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from course_app import limits
from course_app.chapters import ROUTERS
from course_app.realtime import Hub, RedisBridge

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        app.state.scale_hub = Hub()
        app.state.scale_bridge = None
        url = os.environ.get("REDIS_URL")
        if url:
            from course_app.chapters.scaling import CHANNEL

            app.state.scale_bridge = await stack.enter_async_context(RedisBridge(url, CHANNEL, app.state.scale_hub))
        for hook in getattr(app.state, "lifespan_hooks", []):
            await stack.enter_async_context(hook(app))
        yield


def create_app() -> FastAPI:
    app = FastAPI(title="course_app", summary="Demos for the FastAPI real-time course", lifespan=lifespan,
                  max_body_size=limits.MAX_BODY_BYTES)
    limits.install(app)
    app.state.lifespan_hooks = []
    for name in ROUTERS:
        module = importlib.import_module(name)
        app.include_router(module.router)
        hook = getattr(module, "lifespan", None)
        if hook is not None:
            app.state.lifespan_hooks.append(hook)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    return app
