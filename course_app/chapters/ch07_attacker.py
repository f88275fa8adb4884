"""Chapter 07: the attacker's server for the cross-site WebSocket hijacking demo.

A second app, started on another port, that serves one page: it opens a
WebSocket to ``?target=`` from the victim's browser. It is not mounted in
course_app (the ROUTERS list); the notebook and the browser test start it.

    evil = start_server(attacker_app(), name="attacker")
    page.goto(evil.url + "/?target=" + server.ws_url + "/ws/cookie/no-origin-check")
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

__all__ = ["attacker_app"]

STATIC = Path(__file__).resolve().parents[1] / "static"


def attacker_app() -> FastAPI:
    app = FastAPI(title="not the course", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/")
    async def page() -> FileResponse:
        return FileResponse(STATIC / "ch07_attack.html")

    @app.get("/course.css")
    async def css() -> FileResponse:
        return FileResponse(STATIC / "course.css")

    return app
