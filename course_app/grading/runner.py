"""Run checks in fresh subprocesses, each with a time limit, and collect results.

A fresh process per check means the learner's latest edit is always the code
that runs, and code that hangs or crashes can never take the notebook or the
``course`` command down with it. Whatever that process starts ends with the
check (see processes.py), and its temporary folder goes too, even when the
command that started it was killed (see guards.py and ``sweep_stale_folders``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from course_app.grading import registry
from course_app.grading.guards import EXIT_NOTE
from course_app.grading.paths import exercise_path
from course_app.grading.processes import run_contained
from course_app.grading.results import Result, Status, Step
from course_app.grading.tracing import location_in_dump, relative
from course_app.grading.worker import HARD_GRACE

__all__ = ["FOLDER_PREFIX", "Result", "run_check", "run_checks", "sweep_stale_folders"]

KILL_GRACE = 3.0
FOLDER_PREFIX = "course-check-"  # then the owner's pid, a dash, and a random part
STALE_AFTER = 60.0  # seconds: a folder this old whose owner is gone is a leftover


@contextmanager
def _redis_if_needed(exercises: list[registry.Exercise]) -> Iterator[dict[str, str]]:
    """One Redis for the whole run, shared by every check that needs it."""
    if not any(e.needs_redis for e in exercises):
        yield {}
        return
    from course_app.redis_server import RedisUnavailable, acquire_redis

    try:
        url, server = acquire_redis()
    except RedisUnavailable:
        yield {}  # each check then reports the missing Redis itself
        return
    try:
        yield {"REDIS_URL": url}
    finally:
        if server is not None:
            server.stop()


@contextmanager
def _check_folder() -> Iterator[Path]:
    """A temporary folder named after this process, so a later run can tell a leftover from a live one."""
    folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_stale_folders(base: Path | None = None) -> list[Path]:
    """Remove check folders whose owner died before it could (e.g. killed by learner code); return them."""
    import psutil  # type: ignore[import-untyped]

    removed = []
    now = time.time()
    for folder in (base or Path(tempfile.gettempdir())).glob(FOLDER_PREFIX + "*"):
        owner = folder.name[len(FOLDER_PREFIX):].split("-", 1)[0]
        try:
            old = now - folder.stat().st_mtime > STALE_AFTER
            mine = folder.stat().st_uid == os.getuid()
        except OSError:
            continue
        if owner.isdigit() and old and mine and not psutil.pid_exists(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def run_check(
    exercise: registry.Exercise,
    *,
    solutions: bool | None = None,
    path: Path | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """Check one file (the learner's, the solution, or any ``path``) in a fresh process."""
    path = path or exercise_path(exercise.id, solutions)
    limit = exercise.time_limit
    started = time.perf_counter()
    with _check_folder() as tmp:
        out, hang, note = tmp / "result.json", tmp / "hang.txt", tmp / EXIT_NOTE
        cmd = [sys.executable, "-m", "course_app.grading.guards", exercise.id, str(path), str(out), str(limit), str(hang)]
        child_env = {**os.environ, **(env or {}), "PYTHONDONTWRITEBYTECODE": "1"}
        done = run_contained(cmd, env=child_env, timeout=limit + HARD_GRACE + KILL_GRACE)
        seconds = time.perf_counter() - started

        def result(status: Status, problem: str | None, steps: list[Step] | None = None) -> Result:
            return Result(exercise.id, exercise.title, relative(path), status, steps or [], problem, seconds)

        if out.exists():
            finished = Result.from_json(out.read_text())
            finished.seconds = seconds
            return finished
        dump = hang.read_text() if hang.exists() else ""
        if dump or done.timed_out:
            where = location_in_dump(dump, path) if dump else None
            at = f" It was busy at {where}" if where else ""
            return result("fail", (
                f"Your code did not finish within {limit:g} s and never gave the event loop a turn.{at}\n"
                "A loop that never ends, or a blocking call such as time.sleep() inside async code?"
            ))
        how = f"killed by {_signal_name(-done.returncode)}" if done.returncode < 0 else f"exit code {done.returncode}"
        if note.exists():
            return result("error", (
                f"The check process ended without a result ({how}): {note.read_text()}\n"
                "A check needs your code to return normally: remove that call, then check again."
            ))
        tail = done.output.strip().splitlines()[-8:]
        return result("error", f"The check process ended without a result ({how}).\n" + "\n".join(tail))


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_checks(targets: list[str] | tuple[str, ...] = (), *, solutions: bool | None = None) -> Iterator[Result]:
    """Yield results one by one, in course order, so callers can print as they go."""
    exercises = registry.select(targets)
    sweep_stale_folders()
    with _redis_if_needed(exercises) as env:
        for exercise in exercises:
            yield run_check(exercise, solutions=solutions, env=env)
