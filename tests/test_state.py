"""A learner's progress file that is not what the course wrote never crashes a command.

It is set aside once (state.json.broken-<time>, with one line saying so) and the
course carries on from an empty progress file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_app.grading import state

ROOT = Path(__file__).resolve().parents[1]

BROKEN = {
    "a list": "[]",
    "null": "null",
    "results is a number": '{"results": 5}',
    "a result is a number": '{"results": {"ch00_warmup": 5}}',
    "a status is a number": '{"results": {"ch00_warmup": {"status": 1}}}',
    "hints is a list": '{"hints": []}',
    "a hint count is text": '{"hints": {"ch00_warmup": "two"}}',
    "board is a number": '{"board": 3}',
    "cut short": '{"results": {"ch00_war',
    "not UTF-8": "\udcff",
}


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    (tmp_path / ".course").mkdir()
    return tmp_path / ".course" / "state.json"


def write(path: Path, text: str) -> bytes:
    data = text.encode("utf-8", "surrogateescape")
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("text", BROKEN.values(), ids=list(BROKEN))
def test_a_wrongly_shaped_file_is_kept_aside_once_and_reads_as_empty(
    course: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    original = write(course, text)
    assert state.last_status("ch00_warmup") == "not tried"
    assert state.next_hint_index("ch00_warmup", 3) == 0
    state.record_result("ch00_warmup", "fail")
    assert state.last_status("ch00_warmup") == "fail"
    assert state.board() == {}
    said = capsys.readouterr().err
    assert said.count("kept as state.json.broken-") == 1, said
    copies = list(course.parent.glob("state.json.broken-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == original
    assert json.loads(course.read_text())["results"]["ch00_warmup"]["status"] == "fail"


def test_a_well_formed_file_is_left_alone(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state.record_result("ch00_warmup", "pass")
    state.join_board("http://127.0.0.1:8100", "Ada", "K7PQ2X")
    assert state.next_hint_index("ch00_warmup", 3) == 0
    assert state.next_hint_index("ch00_warmup", 3) == 1
    assert state.last_status("ch00_warmup") == "pass"
    assert state.board() == {"url": "http://127.0.0.1:8100", "learner": "Ada", "code": "K7PQ2X"}
    assert capsys.readouterr().err == ""
    assert not list(course.parent.glob("state.json.broken-*"))


def test_list_hint_and_check_run_on_a_broken_file(tmp_path: Path) -> None:
    for folder in ("exercises", "solutions"):
        (tmp_path / folder).mkdir()
        shutil.copy(ROOT / folder / "ch00_warmup.py", tmp_path / folder / "ch00_warmup.py")
    (tmp_path / ".course").mkdir()
    (tmp_path / ".course" / "state.json").write_text('{"results": 5}')
    env = {**os.environ, "COURSE_ROOT": str(tmp_path)}
    env.pop("COURSE_SOLUTIONS", None)
    said = ""
    for command in (["list"], ["hint", "ch00_warmup"], ["check", "ch00_warmup"], ["list", "--json"]):
        out = subprocess.run([sys.executable, "-m", "course_app.cli", *command],
                             env=env, capture_output=True, text=True, timeout=60)
        assert "Traceback" not in out.stderr, out.stderr
        assert out.returncode == (1 if command[0] == "check" else 0), out.stdout + out.stderr
        said += out.stderr
    assert said.count("kept as state.json.broken-") == 1, said
    rows = json.loads(out.stdout)
    assert rows[0] == {**rows[0], "id": "ch00_warmup", "status": "fail"}
