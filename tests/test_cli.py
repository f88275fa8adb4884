"""The `course` command's contract (design.md section 4): output shape, exit codes, time limits."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COURSE = [sys.executable, "-m", "course_app.cli"]


def course(*args: str, root: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COURSE_ROOT": str(root)}
    env.pop("COURSE_SOLUTIONS", None)
    return subprocess.run([*COURSE, *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A copy of the course's exercise folders in its own git repo, for edits and resets."""
    for folder in ("exercises", "solutions"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "pristine"], check=True)
    return tmp_path


def test_check_solutions_passes_and_exits_zero() -> None:
    out = course("check", "ch00_warmup", "--solutions")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[0].startswith("PASS ch00_warmup")
    assert out.stdout.splitlines()[-1] == "1 passed, 0 failed"


def test_check_on_the_stub_fails_with_exit_one_and_says_what_was_expected(sandbox: Path) -> None:
    out = course("check", "0", root=sandbox)
    assert out.returncode == 1
    assert out.stdout.startswith("FAIL ch00_warmup")
    assert "expected:" in out.stdout and "got:" in out.stdout
    assert "course hint ch00_warmup" in out.stdout
    assert out.stdout.splitlines()[-1] == "0 passed, 1 failed"


def test_a_hang_fails_within_the_time_limit_naming_the_line(sandbox: Path) -> None:
    path = sandbox / "exercises" / "ch00_warmup.py"
    source = path.read_text().replace('return {"message": "Hello?"}', "while True:\n        pass")
    path.write_text(source)
    line = source.splitlines().index("    while True:") + 1
    started = time.monotonic()
    out = course("check", "ch00_warmup", root=sandbox)
    elapsed = time.monotonic() - started
    assert out.returncode == 1
    assert f"exercises/ch00_warmup.py, line {line}" in out.stdout, out.stdout
    assert elapsed < 10 + 2 + 3 + 5  # TIME_LIMIT + hard grace + kill grace + start-up slack


def test_a_syntax_error_names_file_and_line(sandbox: Path) -> None:
    path = sandbox / "exercises" / "ch00_warmup.py"
    source = path.read_text() + "def broken(:\n"
    path.write_text(source)
    out = course("check", "ch00_warmup", root=sandbox)
    assert out.returncode == 1
    line = len(source.splitlines())
    assert f"exercises/ch00_warmup.py, line {line}: SyntaxError" in out.stdout, out.stdout


def test_an_exception_names_file_and_line(sandbox: Path) -> None:
    path = sandbox / "exercises" / "ch00_warmup.py"
    path.write_text(path.read_text().replace('return {"message": "Hello?"}', "return {'message': 1 / 0}"))
    out = course("check", "ch00_warmup", root=sandbox)
    assert out.returncode == 1
    line = path.read_text().splitlines().index("    return {'message': 1 / 0}") + 1
    assert "status 500" in out.stdout, out.stdout
    assert "ZeroDivisionError: division by zero\n" in out.stdout, out.stdout
    assert f"at exercises/ch00_warmup.py, line {line}, in hello" in out.stdout, out.stdout


def test_a_missing_file_points_to_reset(sandbox: Path) -> None:
    (sandbox / "exercises" / "ch00_warmup.py").unlink()
    out = course("check", "ch00_warmup", root=sandbox)
    assert out.returncode == 1 and "course reset ch00_warmup" in out.stdout


def test_unknown_exercise_is_a_usage_error() -> None:
    out = course("check", "ch99_nothing")
    assert out.returncode == 2 and "Known exercises" in out.stderr


def test_list_json_has_every_exercise_with_status(sandbox: Path) -> None:
    course("check", "ch00_warmup", root=sandbox)
    rows = json.loads(course("list", "--json", root=sandbox).stdout)
    assert {"id", "chapter", "title", "status"} <= set(rows[0])
    assert rows[0]["id"] == "ch00_warmup" and rows[0]["status"] == "fail"
    assert [r["chapter"] for r in rows] == sorted(r["chapter"] for r in rows)


def test_hints_are_progressive(sandbox: Path) -> None:
    first = course("hint", "ch00_warmup", root=sandbox).stdout
    second = course("hint", "ch00_warmup", root=sandbox).stdout
    assert first.startswith("Hint 1 of") and second.startswith("Hint 2 of") and first != second


def test_reset_twice_keeps_both_versions_and_says_where(sandbox: Path) -> None:
    path = sandbox / "exercises" / "ch00_warmup.py"
    pristine = path.read_bytes()
    saved = []
    for attempt in (b"# my first attempt\n", b"# my second attempt\r\nno newline at the end"):
        path.write_bytes(attempt)
        out = course("reset", "ch00_warmup", root=sandbox)
        assert out.returncode == 0, out.stderr
        assert path.read_bytes() == pristine
        saved.append(out.stdout.split("saved as ", 1)[1].split(" ", 1)[0])
    assert saved == ["exercises/ch00_warmup.py.1.bak", "exercises/ch00_warmup.py.2.bak"]
    assert (sandbox / saved[0]).read_bytes() == b"# my first attempt\n"
    assert (sandbox / saved[1]).read_bytes() == b"# my second attempt\r\nno newline at the end"
    again = course("reset", "ch00_warmup", root=sandbox)  # already pristine: nothing new to keep
    assert "already the original" in again.stdout
    assert sorted(p.name for p in (sandbox / "exercises").glob("ch00_warmup.py.*.bak")) == [
        "ch00_warmup.py.1.bak", "ch00_warmup.py.2.bak"]


def test_backups_are_ignored_by_git() -> None:
    out = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "exercises/ch00_warmup.py.1.bak"])
    assert out.returncode == 0, "*.bak must be in .gitignore"


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (names included) with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


LEARNER_VERSIONS = {
    "the stub": None,
    "CRLF, no final newline, non-ASCII": "# café\r\nfrom fastapi import FastAPI\r\napp = FastAPI()",
    "a hang": "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/hello')\nasync def hello():\n    while True:\n        pass\n",
}


@pytest.mark.parametrize("version", list(LEARNER_VERSIONS))
def test_checking_leaves_the_learners_files_byte_identical(sandbox: Path, version: str) -> None:
    text = LEARNER_VERSIONS[version]
    if text is not None:
        (sandbox / "exercises" / "ch00_warmup.py").write_bytes(text.encode())
    before = tree_digest(sandbox / "exercises")
    out = course("check", "ch00_warmup", root=sandbox)
    assert out.returncode == 1
    assert tree_digest(sandbox / "exercises") == before


@pytest.mark.slow
def test_make_checks_code_path_leaves_the_learners_files_byte_identical(sandbox: Path) -> None:
    """`make check` runs the notebooks through nbval; the check cells read the learner's files."""
    (sandbox / "exercises" / "ch00_warmup.py").write_bytes(b"# an attempt\r\nfrom fastapi import FastAPI\r\napp = FastAPI()")
    before = tree_digest(sandbox / "exercises")
    env = {**os.environ, "COURSE_ROOT": str(sandbox), "COURSE_SOLUTIONS": "0"}
    nbval = ["--nbval-lax", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "--nbval-cell-timeout=300"]
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *nbval,
                          "notebooks/00_welcome.ipynb"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1 and "FAIL ch00_warmup" in out.stdout, out.stdout[-3000:]  # it graded the sandbox's file
    assert tree_digest(sandbox / "exercises") == before


def test_doctor_passes_on_this_setup() -> None:
    out = course("doctor")
    assert out.returncode == 0, out.stdout
    assert "Ready for the course" in out.stdout


def test_doctor_names_the_fix_for_a_dead_redis() -> None:
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run([*COURSE, "doctor"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1
    assert "FAIL" in out.stdout and "unset REDIS_URL" in out.stdout


def test_watch_rechecks_on_save(sandbox: Path) -> None:
    env = {**os.environ, "COURSE_ROOT": str(sandbox), "PYTHONUNBUFFERED": "1"}
    env.pop("COURSE_SOLUTIONS", None)
    proc = subprocess.Popen([*COURSE, "watch", "ch00_warmup"], env=env, stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True)
    reader.start()
    seen: list[str] = []

    def read_until(marker: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
            if marker in seen[-1]:
                return
        raise AssertionError("".join(seen))

    try:
        read_until("Watching for saves")
        assert any(line.startswith("FAIL ch00_warmup") for line in seen)
        time.sleep(1.5)  # let the watcher settle before the save
        (sandbox / "exercises" / "ch00_warmup.py").write_text((sandbox / "solutions" / "ch00_warmup.py").read_text())
        read_until("1 passed, 0 failed")
        assert any("ch00_warmup changed" in line for line in seen)
    finally:
        proc.terminate()
        proc.wait(10)
        reader.join(5)
        if proc.stdout:
            proc.stdout.close()
