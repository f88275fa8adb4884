"""The chapter 01 checks report a hang with its line instead of waiting on it.

tests/test_exercises.py proves each check can fail (stub, tests/wrong/) and that
correct solutions written differently from solutions/ pass (tests/right/).
"""

from __future__ import annotations

from pathlib import Path

from course_app.grading import registry, report
from course_app.grading.runner import run_check


def test_a_hang_in_learner_code_is_reported_not_waited_on(tmp_path: Path) -> None:
    """fetch_all that waits on something that never happens: the check ends with the line it was stuck on."""
    path = tmp_path / "ch01_gather.py"
    path.write_text(
        "import asyncio\n\n"
        "async def fetch_all(fetch, items):\n"
        "    await asyncio.Event().wait()\n"
    )
    result = run_check(registry.get("ch01_gather"), path=path)
    text = report.render(result)
    assert result.status == "fail", text
    assert "did not finish within" in text and "line 4" in text, text
    assert result.seconds < registry.get("ch01_gather").time_limit, text
