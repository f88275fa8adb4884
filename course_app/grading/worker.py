"""Run one check in this process and write its result as JSON.

    python -m course_app.grading.worker ch01_gather path/to/ch01_gather.py result.json

The parent (runner.py) gives us a time limit. We enforce it twice:

* soft, at the limit: the check's task is cancelled, so learner code that is
  *awaiting* something reports where it was waiting;
* hard, two seconds later: faulthandler dumps every thread's stack and exits,
  so learner code stuck in a busy loop or ``time.sleep`` reports its line.

The parent kills us if both fail.
"""

from __future__ import annotations

import asyncio
import faulthandler
import importlib.util
import inspect
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from course_app.grading import lag, registry
from course_app.grading.checker import CheckFailed, StopCheck, T, _format_failure
from course_app.grading.results import Result, Status
from course_app.grading.tracing import describe_exception, relative

HARD_GRACE = 2.0


def load_learner(exercise_id: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"learner_{exercise_id}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(exercise_id: str, path: Path, limit: float) -> Result:
    exercise = registry.get(exercise_id)
    check = exercise.load().check
    t = T(path)

    def finish(status: Status, problem: str | None = None) -> Result:
        return Result(exercise.id, exercise.title, relative(path), status, list(t.steps), problem)

    try:
        learner = load_learner(exercise_id, path)
    except FileNotFoundError:
        return finish("fail", f"{path} is missing. Restore it with `course reset {exercise_id}`.")
    except BaseException as err:  # SyntaxError, or the module raised on import
        return finish("fail", "Your file could not be imported: " + describe_exception(err, path))

    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "asyncio")]
    for logger in loggers:
        logger.addHandler(t.server_log)
    lag.current = t.watch
    try:
        if inspect.iscoroutinefunction(check):
            asyncio.run(_run_async(check, learner, t, limit))
        else:
            check(learner, t)
        t.finish()
    except StopCheck:
        return finish("fail")
    except CheckFailed as err:  # an expectation outside any step, e.g. the app did not start
        return finish("fail", _format_failure(err))
    except asyncio.CancelledError as err:
        if t.timed_out:
            where = describe_exception(err, path, hang=True)
            return finish("fail", f"The check did not finish within {limit:g} s. {where}")
        raise
    except BaseException as err:  # noqa: BLE001 - learner code outside a step, or a bug in the check
        return finish("error", "The check itself stopped: " + describe_exception(err, path))
    finally:
        lag.current = None
        t.watch.stop()
        for logger in loggers:
            logger.removeHandler(t.server_log)
    return finish("pass")


async def _run_async(check: Any, learner: ModuleType, t: T, limit: float) -> None:
    task = asyncio.current_task()
    assert task is not None

    def soft_deadline() -> None:
        t.timed_out = True
        task.cancel()

    handle = asyncio.get_running_loop().call_later(limit, soft_deadline)
    t.watch.add_loop(asyncio.get_running_loop())
    try:
        await check(learner, t)
    finally:
        handle.cancel()


def main(argv: list[str]) -> int:
    exercise_id, path_text, out_text, limit_text, hang_text = argv
    limit = float(limit_text)
    with open(hang_text, "w") as hang_file:
        faulthandler.dump_traceback_later(limit + HARD_GRACE, exit=True, file=hang_file)
        result = run(exercise_id, Path(path_text).resolve(), limit)
        faulthandler.cancel_dump_traceback_later()
    Path(out_text).write_text(result.to_json())
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # do not wait for threads learner code may have left running
