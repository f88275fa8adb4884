"""Every notebook: Run All twice in one kernel, with its check cells compared as nbval compares them.

One kernel per notebook, two full runs (`make test` used to run each notebook three times: nbval,
then Run All twice). The rules, from course_app/dev.py:

* only cells tagged ``raises-exception`` may raise;
* no cell may make the server log ``Exception in ASGI application`` or asyncio log
  ``Task exception was never retrieved``, unless it is tagged as a deliberate failure;
* every check cell passes (solutions mode) and prints the report stored in the notebook, with
  timings and ports sanitized by tests/nbval_sanitize.cfg.

The second run proves re-running cells is safe: servers restart on the same name, nothing is left
bound or running. `make check` (learners) still runs the notebooks through nbval.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_app.dev import run_notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_run_all_twice_in_one_kernel(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_SOLUTIONS", "1")
    problems = run_notebook(path, runs=2)
    assert not problems, "\n\n".join(problems)
