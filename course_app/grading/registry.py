"""The exercise registry: every exercise, in course order, read from ``exercises.toml``.

Each entry names an exercise (``ch01_gather`` is in chapter 1), its title, its
progressive hints, its time limit and whether it needs Redis. The check itself
lives in ``course_app/grading/checks/<id>.py`` and defines only
``check(learner, t)``; it is imported only when it runs, so reading the
registry stays fast (no servers, clients or Redis imported).
"""

from __future__ import annotations

import importlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["Exercise", "UnknownExercise", "all_exercises", "get", "select"]

DEFAULT_TIME_LIMIT = 10.0
METADATA = Path(__file__).with_name("exercises.toml")
_ID = re.compile(r"^ch(\d\d)_[a-z0-9_]+$")
_KEYS = {"id", "title", "hints", "time_limit", "needs_redis"}


class UnknownExercise(LookupError):
    """No exercise or chapter by that name; the message lists what exists."""


@dataclass(frozen=True)
class Exercise:
    id: str
    chapter: int
    title: str
    hints: tuple[str, ...]
    time_limit: float = DEFAULT_TIME_LIMIT
    needs_redis: bool = False

    @property
    def module(self) -> str:
        return f"course_app.grading.checks.{self.id}"

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


def _parse(entry: dict[str, object], where: Path) -> Exercise:
    unknown = set(entry) - _KEYS
    exercise_id = str(entry.get("id", ""))
    match = _ID.match(exercise_id)
    if match is None or unknown or "title" not in entry:
        raise ValueError(
            f"{where}: bad entry {entry!r}: needs id (like ch01_gather) and title; "
            f"allowed keys are {sorted(_KEYS)}"
        )
    hints = entry.get("hints", [])
    return Exercise(
        id=exercise_id,
        chapter=int(match.group(1)),
        title=str(entry["title"]),
        hints=tuple(str(h) for h in (hints if isinstance(hints, list) else [hints])),
        time_limit=float(str(entry.get("time_limit", DEFAULT_TIME_LIMIT))),
        needs_redis=bool(entry.get("needs_redis", False)),
    )


_cache: dict[str, Exercise] | None = None


def _registry() -> dict[str, Exercise]:
    global _cache
    if _cache is None:
        data = tomllib.loads(METADATA.read_text(encoding="utf-8"))
        found = [_parse(entry, METADATA) for entry in data.get("exercise", [])]
        _cache = {e.id: e for e in found}
        if len(_cache) != len(found):
            raise ValueError(f"{METADATA}: an exercise id is listed twice")
    return _cache


def all_exercises() -> list[Exercise]:
    """Every exercise, in course order (the order of exercises.toml)."""
    return list(_registry().values())


def get(exercise_id: str) -> Exercise:
    try:
        return _registry()[exercise_id]
    except KeyError:
        known = ", ".join(e.id for e in all_exercises())
        raise UnknownExercise(f"There is no exercise {exercise_id!r}. Known exercises: {known}") from None


def select(targets: list[str] | tuple[str, ...] = ()) -> list[Exercise]:
    """Resolve targets: an id (``ch04_echo``), a chapter (``ch04``, ``04`` or ``4``), or all."""
    everything = all_exercises()
    if not targets:
        return everything
    chosen: list[Exercise] = []
    for target in targets:
        t = target.strip().lower()
        chapter = re.fullmatch(r"(?:ch)?(\d{1,2})", t)
        if chapter:
            matches = [e for e in everything if e.chapter == int(chapter.group(1))]
            if not matches:
                chapters = sorted({f"ch{e.chapter:02d}" for e in everything})
                raise UnknownExercise(
                    f"Chapter {target!r} has no exercises (yet). Chapters with exercises: {', '.join(chapters)}. "
                    "Try `course list`."
                )
        else:
            matches = [get(t)]
        chosen.extend(e for e in matches if e not in chosen)
    return chosen
