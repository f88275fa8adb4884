"""The learner's progress in .course/state.json: hints seen, the last result of each exercise, the board joined.

The file is the learner's, so it may be edited by hand or cut short by a crash.
Anything that is not the shape below is set aside once (a copy named
``state.json.broken-<time>`` next to it, and one line saying so) and the
course starts from an empty progress file; a command never crashes on it.

    {"hints": {"ch01_gather": 2},
     "results": {"ch01_gather": {"status": "pass", "at": "2026-05-01T10:00:00"}},
     "board": {"url": "http://10.0.0.5:8100", "learner": "Ada", "code": "K7PQ2X"}}
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from course_app.grading.paths import state_dir

__all__ = ["board", "join_board", "last_status", "leave_board", "next_hint_index", "record_result"]


def _path() -> Path:
    return state_dir() / "state.json"


def _well_formed(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    hints, results, joined = data.get("hints", {}), data.get("results", {}), data.get("board", {})
    return (
        isinstance(hints, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in hints.values())
        and isinstance(results, dict)
        and all(isinstance(v, dict) and isinstance(v.get("status"), str) for v in results.values())
        and isinstance(joined, dict) and all(isinstance(v, str) for v in joined.values())
    )


def _set_aside(path: Path, why: str) -> None:
    """Keep the learner's unreadable file under a new name, say so once, and start empty."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    copy = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while copy.exists():
        n += 1
        copy = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    try:
        path.replace(copy)
    except OSError:
        return
    print(f"Note: your progress file {path} {why}, so the course starts it afresh "
          f"(hints and results shown as new). The old file is kept as {copy.name}.", file=sys.stderr, flush=True)


def _load() -> dict[str, Any]:
    path = _path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):  # unreadable, or not UTF-8
        _set_aside(path, "could not be read")
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        _set_aside(path, "is not valid JSON")
        return {}
    if not _well_formed(data):
        _set_aside(path, "does not have the shape the course writes")
        return {}
    return dict(data)


def _save(data: dict[str, Any]) -> None:
    path = _path()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="state.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def next_hint_index(exercise_id: str, total: int) -> int:
    """Index of the hint to show now (0, 1, 2 ... then stays on the last); remembers the step."""
    data = _load()
    seen = data.setdefault("hints", {})
    index = min(max(int(seen.get(exercise_id, 0)), 0), max(total - 1, 0))
    seen[exercise_id] = index + 1
    _save(data)
    return index


def record_result(exercise_id: str, status: str) -> None:
    data = _load()
    data.setdefault("results", {})[exercise_id] = {"status": status, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    _save(data)


def last_status(exercise_id: str) -> str:
    return str(_load().get("results", {}).get(exercise_id, {}).get("status", "not tried"))


def join_board(url: str, learner: str, code: str) -> None:
    data = _load()
    data["board"] = {"url": url, "learner": learner, "code": code}
    _save(data)


def leave_board() -> None:
    data = _load()
    data.pop("board", None)
    _save(data)


def board() -> dict[str, str]:
    """The board this learner joined: url, learner, code (empty when none)."""
    return dict(_load().get("board", {}))
