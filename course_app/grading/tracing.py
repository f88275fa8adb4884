"""Turn an exception into one line that points at the learner's file and line."""

from __future__ import annotations

import re
import traceback
from pathlib import Path

__all__ = [
    "busy_location", "describe_exception", "location_in_dump", "raised_in_learner_code", "raised_in_learner_text",
    "relative",
]


def relative(path: Path | str) -> str:
    from course_app.grading.paths import course_root

    p = Path(path)
    try:
        return str(p.resolve().relative_to(course_root()))
    except ValueError:
        return str(p)


def _learner_frames(err: BaseException, learner_file: Path) -> list[traceback.FrameSummary]:
    target = str(learner_file.resolve())
    frames: list[traceback.FrameSummary] = []
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:  # follow causes too
        seen.add(id(current))
        frames = [f for f in traceback.extract_tb(current.__traceback__) if f.filename == target] or frames
        current = current.__cause__ or current.__context__
    return frames


def raised_in_learner_code(err: BaseException, learner_file: Path) -> str | None:
    """``ZeroDivisionError: ... at exercises/x.py, line 9, in f: ...`` when the learner's file raised it."""
    frames = _learner_frames(err, learner_file)
    if not frames:
        return None
    last = frames[-1]
    what = f"{type(err).__name__}: {err}".rstrip(": ")
    return f"{what}\n  at {relative(last.filename)}, line {last.lineno}, in {last.name}: {last.line}"


def describe_exception(err: BaseException, learner_file: Path, *, hang: bool = False) -> str:
    """``exercises/ch01_gather.py, line 12, in fetch_all: ZeroDivisionError: division by zero``."""
    if isinstance(err, SyntaxError) and err.filename:
        where = f"{relative(err.filename)}, line {err.lineno}"
        return f"{where}: SyntaxError: {err.msg}. Fix the syntax, then check again."
    frames = _learner_frames(err, learner_file)
    if hang:
        if frames:
            last = frames[-1]
            return f"It was waiting at {relative(last.filename)}, line {last.lineno}, in {last.name}: {last.line}"
        return "It was waiting on something that never happened."
    what = f"{type(err).__name__}: {err}".rstrip(": ")
    busy = busy_location(learner_file)
    if busy and not frames:
        return (f"gave no answer in time ({what}). Your code was still busy at {busy}\n"
                "A blocking call (time.sleep, a sync HTTP call, a busy loop) stops the event loop from serving anyone.")
    if frames:
        last = frames[-1]
        return f"your code raised {what}\n  at {relative(last.filename)}, line {last.lineno}, in {last.name}: {last.line}"
    return f"raised {what}"


def busy_location(learner_file: Path) -> str | None:
    """Where another thread (e.g. the server's) is running learner code right now, if anywhere."""
    import sys
    import threading

    target = str(learner_file.resolve())
    me = threading.get_ident()
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        for summary in reversed(traceback.extract_stack(frame)):  # innermost first
            if summary.filename == target:
                return f"{relative(summary.filename)}, line {summary.lineno}, in {summary.name}: {summary.line}"
    return None


_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


def location_in_dump(dump: str, learner_file: Path) -> str | None:
    """From a faulthandler dump, the innermost frame in the learner's file."""
    target = str(learner_file.resolve())
    for match in _FRAME.finditer(dump):  # most recent call first
        if match.group("file") == target:
            lineno = int(match.group("line"))
            try:
                text = learner_file.read_text().splitlines()[lineno - 1].strip()
            except (OSError, IndexError):
                text = ""
            return f"{relative(target)}, line {lineno}, in {match.group('func')}: {text}"
    return None


_TEXT_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>[^\n]+))?\n(?P<code>[^\n]*)')


def raised_in_learner_text(summary: str, trace: str, learner_file: Path) -> str | None:
    """Like ``raised_in_learner_code``, for a traceback that arrived as text (from another process)."""
    target = str(learner_file.resolve())
    frames = [m for m in _TEXT_FRAME.finditer(trace) if m.group("file") == target]
    if not frames:
        return None
    last = frames[-1]
    where = f"{relative(target)}, line {last.group('line')}"
    if last.group("func"):
        where += f", in {last.group('func')}"
    return f"{summary}\n  at {where}: {last.group('code').strip()}"
