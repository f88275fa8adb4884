"""The instructor's live board: attendees' checks report to it; the page updates over a WebSocket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from websockets.sync.client import connect

from course_app.board import create_board_app
from course_app.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]


def test_a_check_reports_to_the_board_and_the_page_sees_it_live(tmp_path: Path) -> None:
    for folder in ("exercises", "solutions"):
        (tmp_path / folder).mkdir()
        for name in ("ch00_warmup.py",):
            (tmp_path / folder / name).write_text((ROOT / folder / name).read_text())
    with BackgroundServer(create_board_app()) as board, connect(board.ws_url + "/ws") as live:
        first = json.loads(live.recv(timeout=5))
        assert first["learners"] == [] and "ch00_warmup" in first["exercises"]
        env = {**os.environ, "COURSE_ROOT": str(tmp_path)}
        env.pop("COURSE_SOLUTIONS", None)
        cli = [sys.executable, "-m", "course_app.cli"]
        subprocess.run([*cli, "join", board.url, "Ada"], env=env, check=True, capture_output=True)
        out = subprocess.run([*cli, "check", "ch00_warmup"], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and "could not report" not in out.stdout
        update = json.loads(live.recv(timeout=5))
        assert update["learners"][0]["name"] == "Ada"
        assert update["learners"][0]["results"] == {"ch00_warmup": "fail"}
        assert "Who has passed what" in httpx.get(board.url + "/").text


def test_a_pass_stays_a_pass_and_bad_reports_get_a_clear_422() -> None:
    with BackgroundServer(create_board_app()) as board:
        post = lambda status: httpx.post(board.url + "/api/report",  # noqa: E731
                                         json={"learner": "Bo", "results": [{"id": "ch01_gather", "status": status}]})
        assert post("pass").status_code == 200
        assert post("fail").status_code == 200
        assert httpx.get(board.url + "/api/state").json()["learners"][0]["results"] == {"ch01_gather": "pass"}
        bad = post("maybe")
        assert bad.status_code == 422 and "status" in bad.text
        assert httpx.post(board.url + "/api/report", json={"learner": "", "results": []}).status_code == 422


def test_an_unreachable_board_never_breaks_a_check(tmp_path: Path) -> None:
    (tmp_path / "exercises").mkdir()
    (tmp_path / "solutions").mkdir()
    (tmp_path / "exercises" / "ch00_warmup.py").write_text((ROOT / "solutions" / "ch00_warmup.py").read_text())
    env = {**os.environ, "COURSE_ROOT": str(tmp_path), "COURSE_BOARD_URL": "http://127.0.0.1:1", "COURSE_LEARNER": "Cy"}
    env.pop("COURSE_SOLUTIONS", None)
    out = subprocess.run([sys.executable, "-m", "course_app.cli", "check", "ch00_warmup"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout
    assert "could not report to the board" in out.stdout
