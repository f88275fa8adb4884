"""The check engine's own rules: learner tracebacks in the server log fail a step, with the line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from course_app.grading.checker import StopCheck, T


def _learner(tmp_path: Path) -> Path:
    path = tmp_path / "learner.py"
    path.write_text("def handler():\n    return 1 / 0\n")
    return path


def _raise_in(path: Path) -> BaseException:
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    try:
        namespace["handler"]()  # type: ignore[operator]
    except ZeroDivisionError as err:
        return err
    raise AssertionError("the learner function should have raised")


def test_a_crash_in_the_server_log_fails_a_step_that_otherwise_passed(tmp_path: Path) -> None:
    path = _learner(tmp_path)
    t = T(path)
    err = _raise_in(path)
    with pytest.raises(StopCheck):
        with t.step("GET / answers"):
            t.server_log.handle(logging.makeLogRecord({
                "msg": "Exception in ASGI application", "levelno": logging.ERROR,
                "exc_info": (type(err), err, err.__traceback__),
            }))
    assert not t.steps[-1].ok
    assert "ZeroDivisionError" in t.steps[-1].detail and "line 2, in handler" in t.steps[-1].detail


def test_a_worker_crash_that_arrived_as_text_is_found_too(tmp_path: Path) -> None:
    path = _learner(tmp_path)
    t = T(path)
    trace = (
        "Traceback (most recent call last):\n"
        f'  File "{path.resolve()}", line 2, in handler\n'
        "    return 1 / 0\n"
        "ZeroDivisionError: division by zero\n"
    )
    with pytest.raises(StopCheck):
        with t.step("a message reaches every worker"):
            t.server_log.handle(logging.makeLogRecord({
                "msg": "Exception in ASGI application", "levelno": logging.ERROR,
                "crash": "ZeroDivisionError: division by zero", "traceback": trace,
            }))
    assert "line 2, in handler: return 1 / 0" in t.steps[-1].detail


def test_a_departure_is_named_as_a_normal_end(tmp_path: Path) -> None:
    path = tmp_path / "learner.py"
    path.write_text("class WebSocketDisconnect(Exception):\n    pass\n\ndef handler():\n    raise WebSocketDisconnect(1000)\n")
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    try:
        namespace["handler"]()  # type: ignore[operator]
    except Exception as caught:  # noqa: BLE001
        err = caught
    t = T(path)
    t.server_log.handle(logging.makeLogRecord({
        "msg": "Exception in ASGI application", "levelno": logging.ERROR,
        "exc_info": (type(err), err, err.__traceback__),
    }))
    with pytest.raises(StopCheck):
        t.finish()
    assert "A client leaving is a normal end" in t.steps[-1].detail


def test_records_not_from_learner_code_are_ignored(tmp_path: Path) -> None:
    t = T(_learner(tmp_path))
    try:
        raise RuntimeError("the course's own bug")
    except RuntimeError as err:
        t.server_log.handle(logging.makeLogRecord({
            "msg": "boom", "levelno": logging.ERROR, "exc_info": (type(err), err, err.__traceback__),
        }))
    with t.step("passes"):
        pass
    t.finish()
    assert t.steps[-1].ok


def test_a_crash_the_check_provokes_on_purpose_is_not_a_failure(tmp_path: Path) -> None:
    path = _learner(tmp_path)
    t = T(path)
    err = _raise_in(path)
    with t.step("a handler that crashes on a binary frame leaves its room"):
        with t.crash_expected() as provoked:
            t.server_log.handle(logging.makeLogRecord({
                "msg": "Exception in ASGI application", "levelno": logging.ERROR,
                "exc_info": (type(err), err, err.__traceback__),
            }))
    t.finish()
    assert t.steps[-1].ok and len(provoked) == 1
