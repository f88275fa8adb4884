"""The check engine: run an exercise's check against the learner's file and report.

In a notebook::

    from course_app.grading import check, hint
    check("ch01_gather")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_app.grading.paths import solutions_mode

if TYPE_CHECKING:
    from course_app.grading.results import Result

__all__ = ["check", "check_and_report", "hint", "hint_text"]


def check_and_report(targets: list[str], *, solutions: bool | None = None, verbose: bool = True) -> "list[Result]":
    """Run checks, print each report as it arrives and the closing tally; return the results.

    Passing exercises show their steps only when ``verbose``; failing ones always do.
    Progress is remembered for ``course list`` (and sent to the board this learner joined, if any)
    unless the solutions are being checked.
    """
    from course_app.grading import report, state
    from course_app.grading.runner import run_checks

    record = not (solutions_mode() if solutions is None else solutions)
    results = []
    for result in run_checks(targets, solutions=solutions):
        results.append(result)
        if record:
            state.record_result(result.id, result.status)
        print(report.render(result, verbose=verbose or not result.passed), flush=True)
    print(report.summary(results), flush=True)
    if record:
        from course_app.grading.reporter import report as report_to_board

        note = report_to_board(results)
        if note:
            print(note, flush=True)
    return results


def check(*targets: str, solutions: bool | None = None) -> None:
    """Check one exercise, a chapter (``"ch01"``) or everything, and print the report."""
    check_and_report(list(targets), solutions=solutions)


def hint_text(exercise_id: str) -> str:
    from course_app.grading import registry, state

    exercise = registry.get(exercise_id)
    if not exercise.hints:
        return f"{exercise_id} has no hints."
    i = state.next_hint_index(exercise_id, len(exercise.hints))
    more = "Ask again for the next one." if i + 1 < len(exercise.hints) else "That was the last hint; solutions/ has the answer, explained."
    return f"Hint {i + 1} of {len(exercise.hints)} for {exercise_id}: {exercise.hints[i]}\n{more}"


def hint(exercise_id: str) -> None:
    """Print the next hint for an exercise (each call shows one more)."""
    print(hint_text(exercise_id))
