"""Notebooks are reviewable: the conventions in course_app/dev.py hold for every one."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_app.dev import lint_notebook
from course_app.grading import registry

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(path: Path) -> None:
    assert lint_notebook(path) == []


@pytest.mark.parametrize("exercise", registry.all_exercises(), ids=lambda e: e.id)
def test_every_exercise_has_a_check_cell_in_its_chapter(exercise: registry.Exercise) -> None:
    chapter = [p for p in NOTEBOOKS if p.name.startswith(f"{exercise.chapter:02d}_")]
    assert chapter, f"no notebook for chapter {exercise.chapter:02d}"
    assert f'check("{exercise.id}")' in chapter[0].read_text().replace('\\"', '"')
