"""The exercise registry: one module per exercise in course_app/grading/exercises/.

Each module defines, next to its check, everything the tools need to know:

    TITLE = "Fetch three prices at once"
    HINTS = ["a first nudge", "a bigger one", "almost the answer"]
    TIME_LIMIT = 10          # seconds for the whole check (optional, default 10)
    NEEDS_REDIS = False      # start one Redis for the run (optional)

    async def check(learner, t): ...   # or a plain def

The chapter comes from the id: ``ch01_gather`` is in chapter 1.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

__all__ = ["Exercise", "all_exercises", "get", "select"]

DEFAULT_TIME_LIMIT = 10.0
_ID = re.compile(r"^ch(\d\d)_[a-z0-9_]+$")
_FIELDS = ("TITLE", "HINTS", "TIME_LIMIT", "NEEDS_REDIS")


@dataclass(frozen=True)
class Exercise:
    id: str
    chapter: int
    title: str
    hints: tuple[str, ...]
    time_limit: float
    needs_redis: bool
    module: str = field(repr=False)

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


def _constants(name: str) -> dict[str, object]:
    """TITLE, HINTS ... read from the module's source without importing it (imports are slow:
    every check pulls in servers and clients). Falls back to importing when a value is not a literal."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    tree = ast.parse(Path(spec.origin).read_text())
    found: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in _FIELDS:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                module = importlib.import_module(name)
                return {field: getattr(module, field) for field in _FIELDS if hasattr(module, field)}
    return found


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _from_module(name: str) -> Exercise:
    exercise_id = name.rsplit(".", 1)[-1]
    match = _ID.match(exercise_id)
    if match is None:
        raise ValueError(f"{name}: exercise ids look like ch01_gather")
    values = _constants(name)
    return Exercise(
        id=exercise_id,
        chapter=int(match.group(1)),
        title=str(values["TITLE"]),
        hints=tuple(str(h) for h in _as_list(values.get("HINTS", []))),
        time_limit=float(str(values.get("TIME_LIMIT", DEFAULT_TIME_LIMIT))),
        needs_redis=bool(values.get("NEEDS_REDIS", False)),
        module=name,
    )


_cache: dict[str, Exercise] | None = None


def _registry() -> dict[str, Exercise]:
    global _cache
    if _cache is None:
        from course_app.grading import exercises

        names = sorted(
            f"{exercises.__name__}.{info.name}"
            for info in pkgutil.iter_modules(exercises.__path__)
            if _ID.match(info.name)
        )
        found = [_from_module(n) for n in names]
        _cache = {e.id: e for e in found}
    return _cache


def all_exercises() -> list[Exercise]:
    """Every exercise, in course order: chapter, then the order listed in exercises.ORDER."""
    from course_app.grading.exercises import ORDER

    exercises = list(_registry().values())
    rank = {eid: i for i, eid in enumerate(ORDER)}
    return sorted(exercises, key=lambda e: (e.chapter, rank.get(e.id, len(rank)), e.id))


def get(exercise_id: str) -> Exercise:
    try:
        return _registry()[exercise_id]
    except KeyError:
        known = ", ".join(e.id for e in all_exercises())
        raise KeyError(f"There is no exercise {exercise_id!r}. Known exercises: {known}") from None


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
        else:
            matches = [get(t)]
        if not matches:
            raise KeyError(f"Chapter {target!r} has no exercises. Try `course list`.")
        chosen.extend(e for e in matches if e not in chosen)
    return chosen
