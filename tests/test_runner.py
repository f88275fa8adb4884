"""The check runner leaves nothing behind: real learner files, real processes, real signals.

Each learner file here is the ch00_warmup solution (or stub) plus one thing a
learner might do: start child processes, call input(), end the process, kill the
course command. Process names carry a random marker so we find exactly ours.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from course_app.grading import registry
from course_app.grading.runner import FOLDER_PREFIX, run_check, sweep_stale_folders

ROOT = Path(__file__).resolve().parents[1]
WARMUP = registry.get("ch00_warmup")
SOLUTION = (ROOT / "solutions" / "ch00_warmup.py").read_text()
STUB = (ROOT / "exercises" / "ch00_warmup.py").read_text()


def marker() -> str:
    """A `sleep` argument no other process on the machine uses."""
    return f"{300 + uuid.uuid4().int % 10_000 / 10_000:.4f}"


def running_with(arg: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if arg in (proc.info["cmdline"] or []) and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def learner_file(tmp_path: Path, base: str, extra: str) -> Path:
    path = tmp_path / "ch00_warmup.py"
    path.write_text(base + "\n" + extra)
    return path


SPAWN = """
import subprocess

def spawn_children():
    for i in range(20):
        # half of them in a new session: they leave the worker's process group
        subprocess.Popen(["sleep", "{arg}"], start_new_session=(i % 2 == 0))
    # a daemon in the classic style: its parent exits at once, so it is nobody's child
    subprocess.Popen(["sh", "-c", "setsid sleep {arg} & exit 0"]).wait()

spawn_children()
"""


@pytest.mark.parametrize("base, expected", [(SOLUTION, "pass"), (STUB, "fail")], ids=["passing", "failing"])
def test_child_processes_of_learner_code_never_outlive_the_check(tmp_path: Path, base: str, expected: str) -> None:
    arg = marker()
    path = learner_file(tmp_path, base, SPAWN.format(arg=arg))
    try:
        result = run_check(WARMUP, path=path)
        assert result.status == expected, result.failed_text()
        left = running_with(arg)
        assert not left, f"{len(left)} learner processes outlived the check: {[p.pid for p in left]}"
    finally:
        for proc in running_with(arg):
            proc.kill()


def test_children_holding_stdout_do_not_keep_the_check_waiting(tmp_path: Path) -> None:
    arg = f"{60 + uuid.uuid4().int % 1000 / 1000:.3f}"  # a minute: waiting for it would be unmistakable
    path = learner_file(tmp_path, SOLUTION, f"import subprocess\nsubprocess.Popen(['sleep', '{arg}'])\n")
    try:
        started = time.monotonic()
        result = run_check(WARMUP, path=path)
        assert result.passed, result.failed_text()
        assert time.monotonic() - started < 30, "the runner waited for a child that held its output pipe"
        assert not running_with(arg)
    finally:
        for proc in running_with(arg):
            proc.kill()


def test_input_fails_at_once_and_names_the_line(tmp_path: Path) -> None:
    path = learner_file(tmp_path, SOLUTION, 'name = input("Your name? ")\n')
    line = path.read_text().splitlines().index('name = input("Your name? ")') + 1
    result = run_check(WARMUP, path=path)
    assert result.status == "fail"
    assert "input() waits for someone to type" in result.failed_text()
    assert f"line {line}, in <module>" in result.failed_text()


def test_os_exit_reports_the_learners_line(tmp_path: Path) -> None:
    path = learner_file(tmp_path, SOLUTION, "import os\n\ndef leave():\n    os._exit(0)\n\nleave()\n")
    line = path.read_text().splitlines().index("    os._exit(0)") + 1
    result = run_check(WARMUP, path=path)
    assert result.status == "error"
    assert "ended without a result" in result.failed_text()
    assert f"called os._exit(0) at {path}, line {line}, in leave" in result.failed_text(), result.failed_text()


def test_killing_itself_reports_the_learners_line(tmp_path: Path) -> None:
    source = SOLUTION.replace(
        '    return {"message": f"Hello, {name}!"}',
        '    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n    return {"message": f"Hello, {name}!"}',
    )
    assert source != SOLUTION
    path = learner_file(tmp_path, source, "")
    line = source.splitlines().index("    os.kill(os.getpid(), signal.SIGKILL)") + 1
    result = run_check(WARMUP, path=path)
    assert result.status == "error"
    assert "killed by SIGKILL" in result.failed_text()
    assert f"sent SIGKILL to the check process at {path}, line {line}, in hello" in result.failed_text()


KILL_PARENT = {
    "os.kill": "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n",
    "kill command": "    import os, subprocess\n    subprocess.run(['kill', '-9', str(os.getppid())])\n",
}


@pytest.mark.parametrize("how", sorted(KILL_PARENT))
def test_learner_code_killing_the_course_command_leaves_no_folder_and_records_nothing(tmp_path: Path, how: str) -> None:
    root, tmp = tmp_path / "course", tmp_path / "tmp"
    for folder in ("exercises", "solutions", "tmp"):
        (tmp_path / ("course" if folder != "tmp" else "") / folder).mkdir(parents=True)
    (root / "solutions" / "ch00_warmup.py").write_text(SOLUTION)
    learner = root / "exercises" / "ch00_warmup.py"
    source = SOLUTION.replace('    return {"message"', KILL_PARENT[how] + '    return {"message"')
    learner.write_text(source)
    env = {**os.environ, "COURSE_ROOT": str(root), "TMPDIR": str(tmp)}
    env.pop("COURSE_SOLUTIONS", None)
    out = subprocess.run([sys.executable, "-m", "course_app.cli", "check", "ch00_warmup"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == -9, out.stdout + out.stderr  # the course command was killed, as the learner asked

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (list(tmp.iterdir()) or running_with(str(learner))):
        time.sleep(0.1)
    assert not list(tmp.iterdir()), f"left behind: {[p.name for p in tmp.iterdir()]}"
    assert not running_with(str(learner)), "the check worker outlived the course command"
    assert not (root / ".course" / "state.json").exists(), "a result was recorded for a check that never finished"


def test_stale_check_folders_are_swept_live_and_fresh_ones_kept(tmp_path: Path) -> None:
    dead = next(pid for pid in range(4_000_000, 3_000_000, -1) if not psutil.pid_exists(pid))
    old = time.time() - 3600
    stale = tmp_path / f"{FOLDER_PREFIX}{dead}-abc"
    live = tmp_path / f"{FOLDER_PREFIX}{os.getpid()}-def"
    fresh = tmp_path / f"{FOLDER_PREFIX}{dead}-ghi"
    other = tmp_path / "course-check-xyz"  # not in our naming scheme: never touched
    for folder in (stale, live, fresh, other):
        folder.mkdir()
        (folder / "result.json").write_text("{}")
    for folder in (stale, live, other):
        os.utime(folder, (old, old))
    assert sweep_stale_folders(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and fresh.exists() and other.exists()
