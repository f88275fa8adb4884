"""The board client: tell the instructor's board how this learner's checks went.

    course join http://10.0.0.5:8100 Ada --code K7PQ2X   # once: the board checks name and code
    course check ch01                                    # from then on, results go to the board too

Reporting is best effort with one total deadline (``DEADLINE`` seconds for
connecting, sending and reading together): a board that is down, slow or
unhappy never breaks or slows a check; the learner sees one line saying why,
and the result is kept locally either way. This module imports nothing from
``course_app.board``: the check engine does not depend on the board app.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import Any

from course_app.grading.results import Result

__all__ = ["DEADLINE", "BoardProblem", "join", "report"]

DEADLINE = 2.0  # seconds, in total, for one request to the board


class BoardProblem(Exception):
    """The board refused or could not be reached; the message is one sentence for the learner."""


def report(results: Sequence[Result]) -> str | None:
    """Post each exercise's status to the board this learner joined; a line to print when that failed."""
    from course_app.grading import state

    joined = state.board()
    url = os.environ.get("COURSE_BOARD_URL") or joined.get("url")
    learner = os.environ.get("COURSE_LEARNER") or joined.get("learner")
    code = os.environ.get("COURSE_BOARD_CODE") or joined.get("code") or ""
    if not url or not learner or not results:
        return None
    body = {"learner": learner, "results": [{"id": r.id, "status": r.status} for r in results]}
    try:
        _post(url, "/api/report", body, code)
    except BoardProblem as problem:
        return f"(board: {problem} Your result is saved locally.)"
    return None


def join(url: str, learner: str, code: str) -> str:
    """Ask the board whether it takes this name and join code; returns the name as the board keeps it."""
    answer = _post(url, "/api/join", {"learner": learner}, code)
    return str(answer.get("learner", learner))


def _post(url: str, path: str, body: dict[str, Any], code: str) -> dict[str, Any]:
    """POST within ``DEADLINE`` seconds in total, on a thread with its own loop (a notebook's loop may be running)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["answer"] = asyncio.run(_send(url.rstrip("/") + path, body, code))
        except BaseException as err:  # noqa: BLE001 - handed back to the caller below
            outcome["error"] = err

    thread = threading.Thread(target=run, name="course-board-report", daemon=True)
    thread.start()
    thread.join(DEADLINE + 1.0)
    if thread.is_alive() or isinstance(outcome.get("error"), TimeoutError):
        raise BoardProblem(f"the board at {url} did not answer within {DEADLINE:g} s.")
    error = outcome.get("error")
    if error is not None:
        raise BoardProblem(_explain_error(url, error)) from error
    status, detail = outcome["answer"]
    if status >= 400:
        raise BoardProblem(_explain_status(url, status, detail))
    return detail if isinstance(detail, dict) else {}


async def _send(url: str, body: dict[str, Any], code: str) -> tuple[int, Any]:
    import httpx

    async with asyncio.timeout(DEADLINE):
        async with httpx.AsyncClient(timeout=DEADLINE, trust_env=False) as client:
            response = await client.post(url, json=body, headers={"Authorization": f"Bearer {code}"})
            try:
                return response.status_code, response.json()
            except ValueError:
                return response.status_code, response.text[:200]


def _explain_error(url: str, err: BaseException) -> str:
    import httpx

    if isinstance(err, httpx.ConnectError):
        return f"could not reach the board at {url} (is it running, and is the address right?)."
    if isinstance(err, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"{url} is not a board address; it looks like http://10.0.0.5:8100."
    if isinstance(err, httpx.HTTPError):
        return f"talking to the board at {url} failed ({type(err).__name__})."
    return f"reporting to the board at {url} failed ({type(err).__name__}: {err})."


def _explain_status(url: str, status: int, detail: Any) -> str:
    said = detail.get("detail") if isinstance(detail, dict) else None
    said = said if isinstance(said, str) else ""
    if status == 401:
        return said or f"the board at {url} did not accept the join code; ask the instructor for it."
    if status == 404:
        return f"{url} answers, but it is not a course board (is the port right?)."
    if status in (413, 422, 429):
        return said or f"the board at {url} refused the report (status {status})."
    return f"the board at {url} had a problem (status {status}); tell the instructor."
