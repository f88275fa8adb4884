"""`make check` runs the notebooks through nbval; this file adds two things to it.

* A failing check cell prints the check's own report (which exercise, each step, expected and got),
  not nbval's diff between the stored passing report and yours.
* The crash rule of `make test` (course_app/dev.py): a cell that makes the server log
  ``Exception in ASGI application`` or ``Task exception was never retrieved`` fails, unless it is
  tagged as a deliberate failure.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from course_app.dev import CrashProbe, cell_text, crash_problem, is_check_cell

_PROBES: dict[int, CrashProbe] = {}


def _is_nbval_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell")


def _probe_for(item: Any) -> CrashProbe | None:
    kernel = getattr(item.parent, "kernel", None)
    if kernel is None or not kernel.is_alive():
        return None
    key = id(kernel)
    if key not in _PROBES:
        kc = kernel.kc

        def execute(code: str, expressions: dict[str, str]) -> dict[str, Any]:
            msg_id = kc.execute(code, silent=True, store_history=False, user_expressions=expressions)
            while True:
                reply = kc.get_shell_msg(timeout=60)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return dict(reply["content"])

        _PROBES.clear()  # one kernel per notebook: forget the previous one
        _PROBES[key] = CrashProbe(execute)
    return _PROBES[key]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    if not _is_nbval_cell(item):
        return (yield)
    cell: Any = getattr(item, "cell")
    probe = _probe_for(item) if cell.cell_type == "code" else None
    result = yield
    if probe is not None:
        problem = crash_problem(f"{item.fspath.basename} cell {getattr(item, 'cell_num', '?')}", cell, probe.take())
        if problem:
            raise AssertionError(problem)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call" and report.failed and _is_nbval_cell(item):
        cell: Any = getattr(item, "cell")
        outputs = getattr(item, "test_outputs", None) or []
        if is_check_cell(cell) and outputs:
            text = cell_text({"outputs": outputs}) or "(the check printed nothing)"
            report.longrepr = f"{item.fspath.basename}: {cell.source.splitlines()[-1].strip()} did not pass.\n\n{text}"
    return report
