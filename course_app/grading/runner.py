"""Run checks in fresh subprocesses, each with a time limit, and collect results.

A fresh process per check means the learner's latest edit is always the code
that runs, and code that hangs or crashes can never take the notebook or the
``course`` command down with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from course_app.grading import registry
from course_app.grading.paths import exercise_path
from course_app.grading.results import Result, Status, Step
from course_app.grading.tracing import location_in_dump, relative
from course_app.grading.worker import HARD_GRACE

__all__ = ["Result", "run_check", "run_checks"]

KILL_GRACE = 3.0


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


def run_check(
    exercise: registry.Exercise,
    *,
    solutions: bool | None = None,
    path: Path | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """Check one file (the learner's, the solution, or any ``path``) in a fresh process."""
    import time

    path = path or exercise_path(exercise.id, solutions)
    limit = exercise.time_limit
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
        out, hang = Path(tmp) / "result.json", Path(tmp) / "hang.txt"
        cmd = [sys.executable, "-m", "course_app.grading.worker", exercise.id, str(path), str(out), str(limit), str(hang)]
        child_env = {**os.environ, **(env or {}), "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen(cmd, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=limit + HARD_GRACE + KILL_GRACE)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            output = b""
        seconds = time.perf_counter() - started
        def result(status: Status, problem: str | None, steps: list[Step] | None = None) -> Result:
            return Result(exercise.id, exercise.title, relative(path), status, steps or [], problem, seconds)

        if out.exists():
            done = Result.from_json(out.read_text())
            done.seconds = seconds
            return done
        dump = hang.read_text() if hang.exists() else ""
        if dump:
            where = location_in_dump(dump, path)
            at = f" It was busy at {where}" if where else ""
            return result("fail", (
                f"Your code did not finish within {limit:g} s and never gave the event loop a turn.{at}\n"
                "A loop that never ends, or a blocking call such as time.sleep() inside async code?"
            ))
        tail = output.decode(errors="replace").strip().splitlines()[-8:]
        return result("error", (
            f"The check process ended without a result (exit code {proc.returncode}).\n" + "\n".join(tail)
        ))


def _kill_group(proc: "subprocess.Popen[bytes]") -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_checks(targets: list[str] | tuple[str, ...] = (), *, solutions: bool | None = None) -> Iterator[Result]:
    """Yield results one by one, in course order, so callers can print as they go."""
    exercises = registry.select(targets)
    with _redis_if_needed(exercises) as env:
        for exercise in exercises:
            yield run_check(exercise, solutions=solutions, env=env)
