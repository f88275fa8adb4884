"""Every exercise proves its check can fail: the stub fails, the solution passes,
and each plausible wrong solution in tests/wrong/<id>/ fails for its stated reason.
Each alternative correct solution in tests/right/<id>/ (another valid strategy) passes.

A wrong-solution file starts with a docstring: what the mistake is, then a line
``Fails: <text>`` naming the step (or problem) the report must show as failed
(``Fails: <text> | <text>`` when either of two steps may catch it, depending on the drawn inputs).
"""

from __future__ import annotations

import ast
import zlib
from pathlib import Path

import pytest

from course_app.grading import registry, report
from course_app.grading.paths import pristine_source
from course_app.grading.runner import run_check

ROOT = Path(__file__).resolve().parents[1]
WRONG = Path(__file__).parent / "wrong"
RIGHT = Path(__file__).parent / "right"
EXERCISES = registry.all_exercises()
IDS = [e.id for e in EXERCISES]


def _wrong_files() -> list[tuple[str, Path]]:
    return [(e.id, f) for e in EXERCISES for f in sorted((WRONG / e.id).glob("*.py"))]


def _expected_failure(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    for line in doc.splitlines():
        if line.startswith("Fails:"):
            return line.removeprefix("Fails:").strip()
    raise AssertionError(f"{path} needs a 'Fails: <step or problem>' line in its docstring")


@pytest.mark.parametrize("exercise_id", IDS)
def test_solution_passes(exercise_id: str) -> None:
    result = run_check(registry.get(exercise_id), solutions=True)
    assert result.passed, report.render(result)
    assert result.steps, "a passing check must have run at least one step"


@pytest.mark.parametrize("exercise_id", IDS)
def test_untouched_stub_fails(exercise_id: str, tmp_path: Path) -> None:
    stub = tmp_path / f"{exercise_id}.py"
    stub.write_text(pristine_source(exercise_id))
    result = run_check(registry.get(exercise_id), path=stub)
    assert result.status == "fail", report.render(result)


@pytest.mark.parametrize(("exercise_id", "path"), _wrong_files(), ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_wrong_solution_fails_for_its_reason(exercise_id: str, path: Path) -> None:
    # Checks draw their inputs at random on every run; a wrong solution runs with a seed of its own,
    # so that which step catches it is the same on every run (COURSE_CHECK_SEED, see checks/_inputs.py).
    seed = str(zlib.crc32(f"{exercise_id}/{path.name}".encode()) % 1_000_000)
    result = run_check(registry.get(exercise_id), path=path, env={"COURSE_CHECK_SEED": seed})
    text = report.render(result)
    assert result.status == "fail", text
    reasons = [reason.strip() for reason in _expected_failure(path).split(" | ")]
    assert any(reason in result.failed_text() for reason in reasons), text


@pytest.mark.parametrize(
    "path", sorted(RIGHT.glob("*/*.py")), ids=lambda p: f"{p.parent.name}-{p.stem}"
)
def test_right_solution_passes(path: Path) -> None:
    result = run_check(registry.get(path.parent.name), path=path)
    assert result.passed, report.render(result)


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_exercise_has_a_wrong_and_a_right_corpus(exercise_id: str) -> None:
    wrong = list((WRONG / exercise_id).glob("*.py"))
    right = list((RIGHT / exercise_id).glob("*.py"))
    assert len(wrong) >= 4, f"tests/wrong/{exercise_id}/ needs at least four plausible wrong solutions ({len(wrong)})"
    assert len(right) >= 2, f"tests/right/{exercise_id}/ needs at least two other correct solutions ({len(right)})"


@pytest.mark.parametrize("exercise_id", IDS)
def test_stub_and_solution_follow_the_conventions(exercise_id: str) -> None:
    stub = (ROOT / "exercises" / f"{exercise_id}.py").read_text()
    solution = (ROOT / "solutions" / f"{exercise_id}.py").read_text()
    assert "# TODO" in stub, "the stub marks each edit point with # TODO"
    assert "TODO" not in solution, "the solution turns each TODO into an explanation"
    assert stub != solution
    exercise = registry.get(exercise_id)
    assert exercise.title and len(exercise.hints) >= 2, "at least two progressive hints"


def test_exercise_files_match_the_registry() -> None:
    on_disk = {p.stem for p in (ROOT / "exercises").glob("*.py")}
    assert on_disk == {p.stem for p in (ROOT / "solutions").glob("*.py")}
    assert on_disk == set(IDS)
    checks = {p.stem for p in (ROOT / "course_app" / "grading" / "checks").glob("ch*.py")}
    assert checks == set(IDS), "one check module per exercise in exercises.toml"
