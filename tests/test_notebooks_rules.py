"""The notebook rules can fail: small notebooks that break each rule, run by the same runner as the course.

* a cell that makes the course server log a crash fails the run, unless tagged as deliberate;
* the crash is seen even when a demo server turned its log level down (uvicorn sets it process-wide);
* a check cell whose report differs from the stored one fails, and so does an untagged error.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_app.dev import run_notebook

pytestmark = pytest.mark.slow

_START = """
from fastapi import FastAPI
from course_app import start_server

crashy = FastAPI()

@crashy.get("/boom")
async def boom():
    raise RuntimeError("the route crashed")

srv = start_server(crashy, name="crashy", log_level={level!r})
"""
_CRASH = """
import httpx
print(httpx.get(srv.url + "/boom").status_code)
"""
_TASK = """
import asyncio, gc

async def fails():
    raise ValueError("nobody awaited me")

task = asyncio.ensure_future(fails())
await asyncio.sleep(0.05)
del task
gc.collect()
"""


def _notebook(tmp_path: Path, *cells: tuple[str, list[str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    path = tmp_path / "rule.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("level", ["warning", "critical"])
def test_an_untagged_server_crash_fails_the_run(tmp_path: Path, level: str) -> None:
    problems = run_notebook(_notebook(tmp_path, (_START.format(level=level), []), (_CRASH, [])), runs=1)
    assert len(problems) == 1, problems
    assert "cell 1" in problems[0] and "Exception in ASGI application" in problems[0]
    assert "RuntimeError: the route crashed" in problems[0]


def test_a_tagged_server_crash_is_allowed(tmp_path: Path) -> None:
    path = _notebook(tmp_path, (_START.format(level="warning"), []), (_CRASH, ["server-error-expected"]))
    assert run_notebook(path, runs=2) == []


def test_a_task_exception_never_retrieved_fails_the_run(tmp_path: Path) -> None:
    problems = run_notebook(_notebook(tmp_path, (_TASK, [])), runs=1)
    assert len(problems) == 1 and "Task exception was never retrieved" in problems[0], problems


def test_an_untagged_error_fails_and_a_tagged_one_does_not(tmp_path: Path) -> None:
    failing = run_notebook(_notebook(tmp_path, ("1 / 0", [])), runs=1)
    assert len(failing) == 1 and "ZeroDivisionError" in failing[0]
    assert run_notebook(_notebook(tmp_path, ("1 / 0", ["raises-exception"])), runs=1) == []


def test_a_check_cell_must_match_its_stored_report(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    cell = nbformat.v4.new_code_cell('# NBVAL_CHECK_OUTPUT\nprint("PASS ch00_warmup: x\\n  ✓ a step\\n1 passed, 0 failed")\n# check("ch00_warmup")')
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="PASS ch00_warmup: x\n  ✓ another step\n1 passed, 0 failed\n")]
    nb.cells.append(cell)
    path = tmp_path / "check.ipynb"
    nbformat.write(nb, path)
    problems = run_notebook(path, runs=1)
    assert len(problems) == 1 and "differs from the stored one" in problems[0], problems
