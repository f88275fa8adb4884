"""Shared fixtures: the course root, a clean environment, and the crash rule for every test.

The crash rule: a test during which course_app code made uvicorn log
``Exception in ASGI application``, or asyncio log ``Task exception was never
retrieved``, fails, unless it is marked ``@pytest.mark.deliberate_failure``.
A peer that went away is a normal end, never a crash.
"""

from __future__ import annotations

import gc
import logging
import re
import sysconfig
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

import course_app
from course_app.logcapture import capture_logs
from course_app.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]

CRASH_MARKS = ("Exception in ASGI application", "Task exception was never retrieved")
CRASH_LOGGERS = ("uvicorn.error", "asyncio")
_COURSE_APP = str(Path(course_app.__file__).resolve().parent)
_LIBRARIES = tuple(
    str(Path(p).resolve()) for p in {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
)
_FILE_LINE = re.compile(r'File "([^"]+)", line (\d+)')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "deliberate_failure: the test makes course_app code crash on purpose (the crash rule lets it pass)",
    )


def _frames(record: logging.LogRecord) -> list[tuple[str, int]]:
    """(file, line) of every frame of the logged traceback, outermost first."""
    if record.exc_info and record.exc_info[1] is not None:
        return [(frame.filename, frame.lineno or 0) for frame in traceback.extract_tb(record.exc_info[1].__traceback__)]
    text = getattr(record, "traceback", None)  # a Cluster worker's record: the traceback as text
    if isinstance(text, str):
        return [(name, int(line)) for name, line in _FILE_LINE.findall(text)]
    return []


def _is_library(filename: str) -> bool:
    if filename.startswith(_COURSE_APP):
        return False  # course_app itself, even when installed into site-packages
    return filename.startswith(_LIBRARIES) or filename.startswith("<")


def course_crashes(records: Iterable[logging.LogRecord]) -> list[str]:
    """The crash records that point at course_app code, as ``"Error: message at file:line"``.

    Whose crash is it? The innermost frame outside the standard library and
    site-packages decides: in course_app, it is the course's. A crash with no
    such frame at all (raised inside the framework while serving, say from
    routing) is counted too: the app under test is the likeliest cause. A crash
    in an app a test wrote for itself (its handler lives in tests/ or tmp) is not.
    """
    found = []
    for record in records:
        message = record.getMessage()
        if not message.startswith(CRASH_MARKS):
            continue
        own = [(name, line) for name, line in _frames(record) if not _is_library(name)]
        if own and not own[-1][0].startswith(_COURSE_APP):
            continue
        if record.exc_info and record.exc_info[1] is not None:
            error = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        else:
            error = str(getattr(record, "crash", None) or message.splitlines()[0])
        where = f" at {own[-1][0]}:{own[-1][1]}" if own else " (inside the framework)"
        found.append(f"{message.splitlines()[0]} -- {error}{where}")
    return found


def _crash_marked(record: logging.LogRecord) -> bool:
    return record.getMessage().startswith(CRASH_MARKS)


@pytest.fixture(autouse=True)
def _crash_rule(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if course_app code crashed while it ran (see the module docstring)."""
    with capture_logs(CRASH_LOGGERS[0], logging.ERROR, _crash_marked) as server_log, \
            capture_logs(CRASH_LOGGERS[1], logging.ERROR, _crash_marked) as asyncio_log:
        yield
        gc.collect()  # an unretrieved task exception is only logged when the task is collected
    if request.node.get_closest_marker("deliberate_failure"):
        return
    crashes = course_crashes([*server_log.records, *asyncio_log.records])
    if crashes:
        pytest.fail(
            "course_app code crashed during this test:\n  " + "\n  ".join(crashes) + "\n"
            "A client that went away is a normal end: catch WebSocketDisconnect, or use "
            "course_app.realtime.frames (send_json, send_text, close). If the crash is the point "
            "of the test, mark it @pytest.mark.deliberate_failure.",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _course_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COURSE_ROOT", str(ROOT))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    """The shared course app on a real socket, one per test module."""
    with BackgroundServer() as running:  # create_app(), with the course limits (ws_max_size)
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The bad-input corpus says how many cases it ran (the README quotes the number)."""
    import sys

    corpus = sys.modules.get("test_bad_input") or sys.modules.get("tests.test_bad_input")
    cases = getattr(corpus, "CASES", None)
    if cases:
        terminalreporter.write_line(f"bad-input corpus: {sum(cases.values())} cases over {len(cases)} routes")
