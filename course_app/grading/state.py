"""The learner's progress in .course/state.json: hints seen and the last result of each exercise."""

from __future__ import annotations

import json
import time
from typing import Any

from course_app.grading.paths import state_dir

__all__ = ["board", "join_board", "last_status", "next_hint_index", "record_result"]


def _load() -> dict[str, Any]:
    path = state_dir() / "state.json"
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(data: dict[str, Any]) -> None:
    path = state_dir() / "state.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)


def next_hint_index(exercise_id: str, total: int) -> int:
    """Index of the hint to show now (0, 1, 2 ... then stays on the last); remembers the step."""
    data = _load()
    seen = data.setdefault("hints", {})
    index = min(int(seen.get(exercise_id, 0)), max(total - 1, 0))
    seen[exercise_id] = index + 1
    _save(data)
    return index


def record_result(exercise_id: str, status: str) -> None:
    data = _load()
    data.setdefault("results", {})[exercise_id] = {"status": status, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    _save(data)


def last_status(exercise_id: str) -> str:
    return str(_load().get("results", {}).get(exercise_id, {}).get("status", "not tried"))


def join_board(url: str, learner: str) -> None:
    data = _load()
    data["board"] = {"url": url, "learner": learner}
    _save(data)


def board() -> dict[str, str]:
    joined = _load().get("board", {})
    return {k: str(v) for k, v in joined.items()} if isinstance(joined, dict) else {}
