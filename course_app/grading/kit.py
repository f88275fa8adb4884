"""Helpers that checks share: serve the learner's app on a real socket, talk to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx

from course_app.server import BackgroundServer

if TYPE_CHECKING:
    from course_app.cluster import Cluster

__all__ = ["http_client", "learner_app", "learner_crash", "serve", "serve_cluster"]


def learner_app(learner: ModuleType, name: str = "app") -> Any:
    """The learner's ASGI app, with a clear message when it is missing."""
    app = getattr(learner, name, None)
    if app is None:
        from course_app.grading.checker import CheckFailed

        raise CheckFailed(f"Your file has no `{name}`. Keep the `{name} = FastAPI()` line from the original file.")
    return app


class _Watched:
    """The learner's app, unchanged, except that its server's event loop is watched for blocking."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._watching = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self._watching:
            self._watching = True
            from course_app.grading.lag import watch_running_loop

            watch_running_loop()
        await self.app(scope, receive, send)


@asynccontextmanager
async def serve(app: Any, **options: Any) -> AsyncIterator[BackgroundServer]:
    """Run ``app`` with uvicorn on a free port in a background thread for the duration.

    The server's event loop is watched: learner code that holds it fails the current step.
    """
    from course_app.grading.checker import CheckFailed
    from course_app.server import ServerError

    try:
        server = await BackgroundServer(_Watched(app), **options).__aenter__()
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


@asynccontextmanager
async def serve_cluster(learner_file: str | Path, workers: int = 3, *, fail_on_crash: bool = True,
                        **options: Any) -> AsyncIterator[Cluster]:
    """Run the learner's file (a module with ``app``) under ``uvicorn --workers N`` for the duration.

    Every worker shares the check's Redis (REDIS_URL; the runner sets it for checks that
    need Redis). A file that cannot load fails the check with its file and line; so does,
    with ``fail_on_crash``, learner code that raised in any worker while the body ran.
    """
    from course_app.cluster import Cluster
    from course_app.grading.checker import CheckFailed
    from course_app.server import ServerError

    path = Path(learner_file).resolve()
    cluster = Cluster(f"{path}:app", workers=workers, factory=False, **options)
    try:
        await cluster.__aenter__()
    except ServerError as err:
        where = learner_crash(cluster, path)
        raise CheckFailed(
            f"Your app could not start under uvicorn --workers {workers}: " + (f"it raised {where}" if where else str(err))
        ) from None
    try:
        yield cluster
        where = learner_crash(cluster, path) if fail_on_crash else None
        if where:
            raise CheckFailed(f"A worker ran your code and it raised {where}")
    finally:
        await cluster.__aexit__(None, None, None)


def learner_crash(cluster: Cluster, learner_file: Path) -> str | None:
    """``ZeroDivisionError: ... at exercises/x.py, line 9, in f: ...`` for the last worker crash in the learner's file."""
    from course_app.grading.tracing import raised_in_learner_text

    for crash in reversed(cluster.crashes):
        where = raised_in_learner_text(crash.summary, crash.traceback, learner_file)
        if where:
            return where
    return None
