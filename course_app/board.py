"""The instructor's live board: who has passed what, updated as attendees run their checks.

    course board                       # instructor: serves the board, prints its URL
    course join http://HOST:8100 Ada   # attendee: from now on, checks report to the board

Attendees' ``course check`` / ``check(...)`` post their results to the board
(best effort, one-second timeout: a board that is down never breaks a check).
The page at ``/`` updates live over a WebSocket.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from course_app.realtime import Hub
from course_app.realtime.tasks import first_completed

__all__ = ["create_board_app", "report_to_board"]

STATIC = Path(__file__).parent / "static"


class ExerciseResult(BaseModel):
    id: str = Field(pattern=r"^ch\d\d_[a-z0-9_]+$")
    status: Literal["pass", "fail", "error"]


class Report(BaseModel):
    learner: str = Field(min_length=1, max_length=40)
    results: list[ExerciseResult] = Field(max_length=200)


class Board:
    def __init__(self) -> None:
        self.learners: dict[str, dict[str, str]] = {}
        self.seen: dict[str, float] = {}
        self.hub = Hub(maxsize=16)

    def snapshot(self) -> dict[str, object]:
        from course_app.grading import registry

        return {
            "type": "board",
            "exercises": [e.id for e in registry.all_exercises()],
            "learners": [
                {"name": name, "results": results, "last_seen": self.seen[name]}
                for name, results in sorted(self.learners.items(), key=lambda kv: kv[0].lower())
            ],
        }

    def record(self, report: Report) -> None:
        results = self.learners.setdefault(report.learner, {})
        for result in report.results:
            if results.get(result.id) != "pass" or result.status == "pass":  # a pass stays a pass
                results[result.id] = result.status
        self.seen[report.learner] = time.time()
        self.hub.publish(self.snapshot())


def create_board_app() -> FastAPI:
    board = Board()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="course board", lifespan=lifespan)
    app.state.board = board

    @app.post("/api/report")
    async def report(body: Report) -> dict[str, int]:
        board.record(body)
        return {"learners": len(board.learners)}

    @app.get("/api/state")
    async def state() -> dict[str, object]:
        return board.snapshot()

    @app.get("/")
    async def page() -> FileResponse:
        return FileResponse(STATIC / "board.html")

    @app.websocket("/ws")
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        async with board.hub.subscribe() as sub:

            async def push() -> None:
                await websocket.send_json(board.snapshot())
                while True:
                    await websocket.send_json(await sub.get())

            async def notice_goodbye() -> None:  # a send-only loop would never see the tab close
                with contextlib.suppress(WebSocketDisconnect):
                    while True:
                        await websocket.receive_text()

            await first_completed(push(), notice_goodbye())

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def report_to_board(results: list[tuple[str, str]]) -> str | None:
    """Post (id, status) pairs to the board this learner joined; returns a note when it failed."""
    from course_app.grading import state

    url, learner = os.environ.get("COURSE_BOARD_URL"), os.environ.get("COURSE_LEARNER")
    joined = state.board()
    url, learner = url or joined.get("url"), learner or joined.get("learner")
    if not url or not learner or not results:
        return None
    import httpx

    try:
        httpx.post(url.rstrip("/") + "/api/report", timeout=1.0,
                   json={"learner": learner, "results": [{"id": i, "status": s} for i, s in results]}).raise_for_status()
    except httpx.HTTPError as err:
        return f"(could not report to the board at {url}: {type(err).__name__}; your result is saved locally)"
    return None
