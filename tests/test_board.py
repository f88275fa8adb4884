"""The instructor's live board: attendees join with a code, their checks report to it, the page updates live."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from course_app.board import BoardRules, create_board_app
from course_app.grading import reporter
from course_app.grading.results import Result
from course_app.realtime.codes import CloseCode
from course_app.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]
CODE = "K7PQ2X"
CLI = [sys.executable, "-m", "course_app.cli"]


def auth(code: str = CODE) -> dict[str, str]:
    return {"Authorization": f"Bearer {code}"}


@pytest.fixture
def board() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_board_app(CODE)) as running:
        yield running


@pytest.fixture
def course_root(tmp_path: Path) -> Path:
    for folder in ("exercises", "solutions"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "ch00_warmup.py").write_text((ROOT / folder / "ch00_warmup.py").read_text())
    return tmp_path


def cli(root: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COURSE_ROOT": str(root), **extra}
    env.pop("COURSE_SOLUTIONS", None)
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_check_reports_to_the_board_and_the_page_sees_only_the_change(
    board: BackgroundServer, course_root: Path
) -> None:
    with connect(board.ws_url + "/ws") as live:
        first = json.loads(live.recv(timeout=5))
        assert first["type"] == "board" and first["learners"] == [] and "ch00_warmup" in first["exercises"]
        joined = cli(course_root, "join", board.url, "  Ada  ", "--code", CODE.lower())
        assert joined.returncode == 0 and "as 'Ada'" in joined.stdout, joined.stderr
        assert json.loads(live.recv(timeout=5)) == {"type": "update", "learners": [
            {"name": "Ada", "results": {}, "last_seen": pytest.approx(time.time(), abs=60)}]}
        out = cli(course_root, "check", "ch00_warmup")
        assert out.returncode == 1 and "board:" not in out.stdout, out.stdout
        update = json.loads(live.recv(timeout=5))
        assert update["type"] == "update" and [row["name"] for row in update["learners"]] == ["Ada"]
        assert update["learners"][0]["results"] == {"ch00_warmup": "fail"}
    assert "Who has passed what" in httpx.get(board.url + "/").text


@pytest.mark.parametrize("name, says", [
    ("   ", "1 to 40 characters"),
    ("x" * 41, "1 to 40 characters"),
    ("Ada\x07", "only printable characters"),
    ("Ada\u202e", "only printable characters"),  # right-to-left override: would garble the projector
])
def test_join_refuses_a_name_the_board_would_refuse_and_saves_nothing(
    board: BackgroundServer, course_root: Path, name: str, says: str
) -> None:
    out = cli(course_root, "join", board.url, name, "--code", CODE)
    assert out.returncode == 1 and says in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (course_root / ".course" / "state.json").exists()
    assert httpx.get(board.url + "/api/state").json()["learners"] == []


def test_join_refuses_a_wrong_code_and_an_unreachable_board(board: BackgroundServer, course_root: Path) -> None:
    wrong = cli(course_root, "join", board.url, "Ada", "--code", "NOPE42")
    assert wrong.returncode == 1 and "did not accept the join code" in wrong.stderr
    away = cli(course_root, "join", "http://127.0.0.1:1", "Ada", "--code", CODE)
    assert away.returncode == 1 and "could not reach the board" in away.stderr
    assert not (course_root / ".course" / "state.json").exists()


def test_a_refused_report_is_one_clear_line_never_an_unexplained_error(board: BackgroundServer, course_root: Path) -> None:
    (course_root / "exercises" / "ch00_warmup.py").write_text((ROOT / "solutions" / "ch00_warmup.py").read_text())
    out = cli(course_root, "check", "ch00_warmup",
              COURSE_BOARD_URL=board.url, COURSE_LEARNER="Ada", COURSE_BOARD_CODE="STALE9")
    assert out.returncode == 0, out.stdout
    notes = [line for line in out.stdout.splitlines() if "board" in line]
    assert len(notes) == 1 and "did not accept the join code" in notes[0] and "saved locally" in notes[0], out.stdout
    assert "HTTPStatusError" not in out.stdout + out.stderr


def test_reports_need_the_join_code_and_a_pass_stays_a_pass(board: BackgroundServer) -> None:
    def post(status: str, code: str = CODE) -> httpx.Response:
        body = {"learner": "Bo", "results": [{"id": "ch01_gather", "status": status}]}
        return httpx.post(board.url + "/api/report", json=body, headers=auth(code))

    assert httpx.post(board.url + "/api/report", json={"learner": "Bo", "results": []}).status_code == 401
    assert post("pass", code="WRONG1").status_code == 401
    assert post("pass").status_code == 200
    assert post("fail").status_code == 200
    assert httpx.get(board.url + "/api/state").json()["learners"][0]["results"] == {"ch01_gather": "pass"}
    bad = post("maybe")
    assert bad.status_code == 422 and bad.json()["detail"].startswith("the board refused results.0.status")
    surrogate = httpx.post(board.url + "/api/report", headers={**auth(), "content-type": "application/json"},
                           content=b'{"learner": "\\ud800", "results": []}')
    assert surrogate.status_code == 422
    big = httpx.post(board.url + "/api/report", headers=auth(), json={"learner": "Bo", "results": [], "pad": "x" * 100_000})
    assert big.status_code == 413


def test_reports_are_rate_limited_per_attendee() -> None:
    rules = BoardRules(burst=3, every=60.0)
    with BackgroundServer(create_board_app(CODE, rules)) as board:
        def post(learner: str) -> httpx.Response:
            return httpx.post(board.url + "/api/report", json={"learner": learner, "results": []}, headers=auth())

        assert [post("Cy").status_code for _ in range(3)] == [200, 200, 200]
        refused = post("Cy")
        assert refused.status_code == 429 and "too many reports from Cy" in refused.json()["detail"]
        assert refused.headers["Retry-After"] == "60"
        assert post("Di").status_code == 200  # someone else's budget is their own


def test_the_page_gets_rows_that_changed_not_the_whole_board(board: BackgroundServer) -> None:
    names = [f"attendee {i:03d}" for i in range(60)]
    with httpx.Client(base_url=board.url, headers=auth()) as client:
        for name in names:
            client.post("/api/report", json={"learner": name, "results": [{"id": "ch00_warmup", "status": "pass"}]})
        with connect(board.ws_url + "/ws") as live:
            assert len(json.loads(live.recv(timeout=5))["learners"]) == 60
            for name in names[:5]:
                assert client.post("/api/report", json={
                    "learner": name, "results": [{"id": "ch01_gather", "status": "fail"}]}).status_code == 200
            rows: list[str] = []
            while len(rows) < 5:  # a slow reader may get several changes in one update, never the rest
                update = json.loads(live.recv(timeout=5))
                assert update["type"] == "update"
                rows += [row["name"] for row in update["learners"]]
            assert sorted(rows) == names[:5]


def test_a_binary_frame_to_the_board_closes_with_a_named_code_and_a_reason(board: BackgroundServer) -> None:
    with connect(board.ws_url + "/ws") as live:
        live.recv(timeout=5)
        live.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed) as closed:
            live.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.UNSUPPORTED_DATA and "binary" in closed.value.rcvd.reason


@pytest.fixture
def trickling_board() -> Iterator[str]:
    """A 'board' that accepts, then answers one byte every half second: per-read timeouts never fire."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        conns = []
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conns.append(conn)
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"." * 60:
                if stop.wait(0.5):
                    break
                conn.sendall(bytes([byte]))
        for conn in conns:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_slow_board_costs_a_check_at_most_the_total_deadline(
    trickling_board: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURSE_BOARD_URL", trickling_board)
    monkeypatch.setenv("COURSE_LEARNER", "Ed")
    monkeypatch.setenv("COURSE_BOARD_CODE", CODE)
    started = time.monotonic()
    note = reporter.report([Result("ch00_warmup", "t", "f", "pass")])
    elapsed = time.monotonic() - started
    assert note is not None and f"did not answer within {reporter.DEADLINE:g} s" in note
    assert elapsed < 10, f"took {elapsed:.1f} s; the trickle lasts 30 s and the deadline is {reporter.DEADLINE} s"


def test_an_unreachable_board_never_breaks_a_check(tmp_path: Path) -> None:
    (tmp_path / "exercises").mkdir()
    (tmp_path / "solutions").mkdir()
    (tmp_path / "exercises" / "ch00_warmup.py").write_text((ROOT / "solutions" / "ch00_warmup.py").read_text())
    out = cli(tmp_path, "check", "ch00_warmup", COURSE_BOARD_URL="http://127.0.0.1:1", COURSE_LEARNER="Cy")
    assert out.returncode == 0, out.stdout
    assert "could not reach the board" in out.stdout


def test_the_check_engine_does_not_import_the_board() -> None:
    """The dependency arrow runs from the board to grading, never back."""
    for path in sorted((ROOT / "course_app" / "grading").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "course_app.board" or n.startswith("course_app.board.") for n in names), path


BAD_BODIES = {
    "not JSON": b"{nope",
    "empty": b"",
    "null": b"null",
    "a list": b"[]",
    "learner is a number": b'{"learner": 5, "results": []}',
    "results is text": b'{"learner": "a", "results": "x"}',
    "an id is a number": b'{"learner": "a", "results": [{"id": 1, "status": "pass"}]}',
    "NaN": b'{"learner": NaN, "results": []}',
    "nested 5,000 deep": b'{"learner": "a", "results": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "201 results": b'{"learner": "a", "results": [' + b",".join([b'{"id": "ch00_warmup", "status": "pass"}'] * 201) + b"]}",
    "a 100-character id": b'{"learner": "a", "results": [{"id": "ch00_' + b"a" * 100 + b'", "status": "pass"}]}',
    "not UTF-8": b'{"learner": "\xff", "results": []}',
    "a lone surrogate": b'{"learner": "\\udc00", "results": []}',
}


BAD_RESULTS = {"results is text", "an id is a number", "201 results", "a 100-character id"}


@pytest.mark.parametrize("path", ["/api/report", "/api/join"])
def test_bad_bodies_get_a_4xx_with_a_reason_never_a_500(board: BackgroundServer, path: str) -> None:
    with httpx.Client(base_url=board.url, headers={**auth(), "content-type": "application/json"}) as client:
        for name, body in BAD_BODIES.items():
            if path == "/api/join" and name in BAD_RESULTS:
                continue  # join reads only the name
            answer = client.post(path, content=body)
            assert 400 <= answer.status_code < 500 and answer.json()["detail"], (name, answer.status_code, answer.text)
        raw = client.post(path, content=b'{"learner": "a", "results": []}',
                          headers=[(b"Authorization", b"Bearer \xff\xfe")])
        assert raw.status_code == 401


def test_an_oversized_frame_to_the_board_closes_with_1009_and_a_reason(board: BackgroundServer) -> None:
    with connect(board.ws_url + "/ws") as live:
        live.recv(timeout=5)
        live.send("x" * 5000)
        with pytest.raises(ConnectionClosed) as closed:
            live.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.MESSAGE_TOO_BIG and "1024 bytes" in closed.value.rcvd.reason
