"""create_app(): the one FastAPI app every chapter talks to.

Each chapter's demo routes live in course_app/chapters/<module>.py as a
``router``; this file only mounts them and serves the browser pages.

State lives with the router that needs it: a chapter that keeps something for
the app's lifetime (a broadcast, a session registry, an outbox) gives its
router a lifespan, ``APIRouter(lifespan=...)``, and ``include_router`` runs
it with the app's own. A lifespan that yields a dict puts those values on
``request.state`` / ``websocket.state``. Every app gets fresh state: two apps
in one process share nothing.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from course_app import limits
from course_app.chapters import ROUTERS

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"


def create_app() -> FastAPI:
    app = FastAPI(title="course_app", summary="Demos for the FastAPI real-time course",
                  max_body_size=limits.MAX_BODY_BYTES)
    limits.install(app)
    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router)  # with the router's lifespan, if it has one
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    return app
