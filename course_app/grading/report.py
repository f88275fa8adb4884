"""Render results as text: PASS/FAIL in words, one line per exercise, then details."""

from __future__ import annotations

from collections.abc import Iterable

from course_app.grading.results import Result

__all__ = ["render", "summary"]


def render(result: Result, *, verbose: bool = True) -> str:
    word = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[result.status]
    lines = [f"{word} {result.id}: {result.title}"]
    if not verbose:
        return lines[0]
    for step in result.steps:
        mark = "✓" if step.ok else "✗"
        lines.append(f"  {mark} {step.name}")
        if step.detail:
            lines.extend("      " + line for line in step.detail.splitlines())
    if result.problem:
        lines.extend("  " + line for line in result.problem.splitlines())
    if not result.passed:
        lines.append(f"  Next: edit {result.file} and check again. Stuck? `course hint {result.id}` or hint(\"{result.id}\").")
    return "\n".join(lines)


def summary(results: Iterable[Result]) -> str:
    results = list(results)
    passed = sum(r.passed for r in results)
    return f"{passed} passed, {len(results) - passed} failed"
