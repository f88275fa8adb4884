"""The instructor's live board: who has passed what, updated as attendees run their checks.

    course board                                        # instructor: prints the URL and a join code
    course join http://HOST:8100 Ada --code K7PQ2X      # attendee, once: the board checks name and code

Attendees' checks post their results to ``POST /api/report`` with the join code
(the board client is ``course_app.grading.reporter``). Each attendee may send a
burst of reports and then one every few seconds (429 beyond that). The page at
``/`` gets the whole board once over ``/ws``, then only the rows that changed;
a viewer that reads slowly gets the latest of each changed row, never a queue
of stale copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
import time
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import AfterValidator, BaseModel, Field

from course_app import limits
from course_app.realtime.codes import CloseCode
from course_app.realtime.frames import BadFrame, close, receive_text, send_text
from course_app.realtime.tasks import first_completed
from course_app.security.ratelimit import TokenBucket

__all__ = ["BoardRules", "create_board_app", "new_join_code", "valid_name"]

STATIC = Path(__file__).parent / "static"
NAME_MAX = 40
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread on a projector


def new_join_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))


def valid_name(name: str) -> str:
    """The board's rule for a name: 1 to 40 printable characters, spaces allowed inside; returns it trimmed."""
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ValueError(f"a name has 1 to {NAME_MAX} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for ch in name):
        raise ValueError("a name has only printable characters (letters, digits, spaces, punctuation)")
    return name


Name = Annotated[str, Field(max_length=4 * NAME_MAX), AfterValidator(valid_name)]


class ExerciseResult(BaseModel):
    id: str = Field(pattern=r"^ch\d\d_[a-z0-9_]+$", max_length=64)
    status: Literal["pass", "fail", "error"]


class Join(BaseModel):
    learner: Name


class Report(BaseModel):
    learner: Name
    results: list[ExerciseResult] = Field(max_length=200)


class BoardRules(BaseModel):
    """Limits an instructor may change (tests and benchmarks do)."""

    burst: int = 10  # reports an attendee may send at once ...
    every: float = 3.0  # ... then one per this many seconds
    max_learners: int = 2000
    viewer_send_timeout: float = 10.0  # a viewer that takes longer to accept one update is dropped


class _Viewer:
    """One open page: the names whose rows changed since its last update (latest wins)."""

    def __init__(self) -> None:
        self.changed: set[str] = set()
        self.wake = asyncio.Event()

    def touch(self, name: str) -> None:
        self.changed.add(name)
        self.wake.set()

    async def next_changes(self) -> set[str]:
        await self.wake.wait()
        self.wake.clear()
        changed, self.changed = self.changed, set()
        return changed


class Board:
    def __init__(self, join_code: str, rules: BoardRules) -> None:
        from course_app.grading import registry

        self.join_code = join_code
        self.rules = rules
        self.exercises = [e.id for e in registry.all_exercises()]
        self._known = set(self.exercises)
        self.learners: dict[str, dict[str, str]] = {}
        self.seen: dict[str, float] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self.viewers: set[_Viewer] = set()

    def admits(self, authorization: str | None) -> bool:
        scheme, _, code = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(code.strip().upper().encode(), self.join_code.encode())

    def allow(self, learner: str) -> bool:
        bucket = self.buckets.get(learner)
        if bucket is None:
            bucket = self.buckets[learner] = TokenBucket(rate=1 / self.rules.every, burst=self.rules.burst)
        return bucket.take()

    def full(self, learner: str) -> bool:
        return learner not in self.learners and len(self.learners) >= self.rules.max_learners

    def row(self, name: str) -> dict[str, Any]:
        return {"name": name, "results": self.learners[name], "last_seen": self.seen[name]}

    def snapshot(self) -> dict[str, Any]:
        names = sorted(self.learners, key=str.lower)
        return {"type": "board", "exercises": self.exercises, "learners": [self.row(n) for n in names]}

    def record(self, learner: str, results: list[ExerciseResult]) -> None:
        row = self.learners.setdefault(learner, {})
        for result in results:
            if result.id in self._known and (row.get(result.id) != "pass" or result.status == "pass"):
                row[result.id] = result.status  # a pass stays a pass
        self.seen[learner] = time.time()
        for viewer in self.viewers:
            viewer.touch(learner)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def create_board_app(join_code: str | None = None, rules: BoardRules | None = None) -> FastAPI:
    board = Board((join_code or new_join_code()).upper(), rules or BoardRules())
    app = FastAPI(title="course board", max_body_size=limits.MAX_BODY_BYTES)
    limits.install(app)
    app.state.board = board

    @app.exception_handler(RequestValidationError)
    async def one_sentence(request: Request, exc: Exception) -> Response:
        """422 with one readable sentence (and never the input echoed back)."""
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ())[1:]]
        where = "the request body" if first.get("type") == "json_invalid" or not loc else ".".join(loc)
        said = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return _json(422, {"detail": f"the board refused {where}: {said}."})

    def refusal(authorization: str | None, learner: str) -> Response | None:
        if not board.admits(authorization):
            return _json(401, {"detail": "the board did not accept the join code (it changes when the board "
                                         "restarts); ask the instructor for it and run `course join` again."})
        if board.full(learner):
            return _json(409, {"detail": f"the board is full ({board.rules.max_learners} attendees)."})
        if not board.allow(learner):
            every = board.rules.every
            return _json(429, {"detail": f"too many reports from {learner}: the board takes {board.rules.burst} "
                                         f"at once, then one every {every:g} s; try again in a few seconds."},
                         headers={"Retry-After": str(max(1, round(every)))})
        return None

    @app.post("/api/join")
    async def join(body: Join, authorization: Annotated[str | None, Header()] = None) -> Response:
        refused = refusal(authorization, body.learner)
        if refused:
            return refused
        board.record(body.learner, [])
        return _json(200, {"learner": body.learner, "exercises": len(board.exercises)})

    @app.post("/api/report")
    async def report(body: Report, authorization: Annotated[str | None, Header()] = None) -> Response:
        refused = refusal(authorization, body.learner)
        if refused:
            return refused
        board.record(body.learner, body.results)
        return _json(200, {"learners": len(board.learners)})

    @app.get("/api/state")
    async def state() -> Response:
        return _json(200, board.snapshot())

    @app.get("/")
    async def page() -> FileResponse:
        return FileResponse(STATIC / "board.html")

    @app.websocket("/ws")
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        viewer = _Viewer()
        board.viewers.add(viewer)
        try:
            await _serve_viewer(websocket, board, viewer)
        finally:
            board.viewers.discard(viewer)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def _serve_viewer(websocket: WebSocket, board: Board, viewer: _Viewer) -> None:
    """Send the board, then changed rows; meanwhile read (and refuse) whatever the page sends."""

    async def push() -> None:
        frame = json.dumps(board.snapshot())
        while True:
            try:
                async with asyncio.timeout(board.rules.viewer_send_timeout):
                    if not await send_text(websocket, frame):
                        return
            except TimeoutError:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await close(websocket, CloseCode.TOO_SLOW, "this page did not keep up with the board; reload it")
                return
            names = await viewer.next_changes()
            rows = [board.row(n) for n in sorted(names, key=str.lower) if n in board.learners]
            frame = json.dumps({"type": "update", "learners": rows})

    async def listen() -> None:  # a send-only loop would never see the tab close
        try:
            while True:
                await receive_text(websocket, max_bytes=1024)  # the page sends nothing; ignore text
        except BadFrame as bad:  # binary or oversized: say so with a named code, never a KeyError
            await close(websocket, bad.code, f"the board page sends nothing; {bad.reason}")
        except WebSocketDisconnect:
            pass

    await first_completed(push(), listen())
