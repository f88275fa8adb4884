"""Maintainer tools for the notebooks (not for learners).

    python -m course_app.dev refresh notebooks/01_async_await.ipynb   # run in solutions mode, keep only check outputs
    python -m course_app.dev lint                                      # the conventions tests/ enforces
    python -m course_app.dev run notebooks/04_websocket_echo.ipynb     # Run All twice in one kernel, as `make test` does

Conventions: no stored outputs or execution counts except on check cells
(``# NBVAL_CHECK_OUTPUT``, count 1 so that nbval compares them), python3 kernelspec, no machine paths, one sentence
per Markdown line, every exercise has a check cell in its chapter's notebook.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import nbformat  # untyped library

__all__ = [
    "CRASH_MARKS",
    "DELIBERATE_TAGS",
    "CrashProbe",
    "compare_check_output",
    "lint_notebook",
    "refresh",
    "run_notebook",
    "strip",
]

ROOT = Path(__file__).resolve().parents[1]
CHECK_MARK = "NBVAL_CHECK_OUTPUT"
_MACHINE_PATH = re.compile(r"(/root/|/tmp/|/work/|/home/[a-z]|[A-Z]:\\\\Users)")
_TWO_SENTENCES = re.compile(r"[a-z0-9)\]`*][.!?] +[A-Z]")
_CHECK_CALL = re.compile(r"""check\(\s*["'](ch\d\d_[a-z0-9_]+)["']""")
SANITIZE_FILE = ROOT / "tests" / "nbval_sanitize.cfg"

# The crash rule: while a notebook runs, the server (or asyncio) logging one of these fails the run,
# unless the cell that was running carries one of DELIBERATE_TAGS.
CRASH_MARKS = ("Exception in ASGI application", "Task exception was never retrieved")
DELIBERATE_TAGS = frozenset({"raises-exception", "server-error-expected"})


def is_check_cell(cell: Any) -> bool:
    return cell.cell_type == "code" and CHECK_MARK in cell.source


def cell_text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def check_output_passed(cell: Any) -> bool:
    """Every exercise the cell checks has its ``PASS <id>`` line, and the tally says 0 failed."""
    text = cell_text(cell)
    ids = _CHECK_CALL.findall(cell.source)
    lines = text.splitlines()
    return bool(ids) and all(any(line.startswith(f"PASS {eid}:") for line in lines) for eid in ids) \
        and bool(re.search(r"^\d+ passed, 0 failed$", text, re.MULTILINE))


def strip(nb: Any) -> Any:
    """Drop every output and execution count except the check cells' outputs."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type != "code":
            continue
        if is_check_cell(cell):
            # nbval skips the comparison of a cell whose stored count is None ("unrun"),
            # so check cells keep a count of 1.
            cell.execution_count = 1
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = 1
        else:
            cell.execution_count = None
            cell.outputs = []
    return nb


def refresh(path: Path, timeout: int = 300) -> None:
    """Execute in solutions mode, then keep only the check cells' (passing) outputs."""
    from nbclient import NotebookClient

    os.environ["COURSE_SOLUTIONS"] = "1"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        if is_check_cell(cell) and not check_output_passed(cell):
            raise SystemExit(f"{path.name}: a check cell did not pass in solutions mode:\n{cell_text(cell)}")
    nbformat.write(strip(nb), path)


def _markdown_prose(source: str) -> list[str]:
    lines, fenced = [], False
    for line in source.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.lstrip().startswith(("|", "<", "    ")):
            continue
        lines.append(re.sub(r"`[^`]*`|\[[^\]]*\]\([^)]*\)", "x", line))
    return lines


def lint_notebook(path: Path) -> list[str]:
    problems: list[str] = []
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - report any unreadable notebook
        return [f"{path.name}: not a valid notebook ({err})"]
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append(f"{path.name}: kernelspec must be python3")
    for i, cell in enumerate(nb.cells):
        where = f"{path.name} cell {i}"
        text = cell.source + "".join(str(o) for o in cell.get("outputs", []))
        if _MACHINE_PATH.search(text):
            problems.append(f"{where}: a path of this machine")
        if cell.cell_type == "markdown":
            for line in _markdown_prose(cell.source):
                if _TWO_SENTENCES.search(line):
                    problems.append(f"{where}: one sentence per line please: {line.strip()[:70]!r}")
            continue
        if cell.cell_type != "code":
            continue
        if cell.execution_count is not None and not is_check_cell(cell):
            problems.append(f"{where}: stored execution count")
        if is_check_cell(cell):
            if not _CHECK_CALL.findall(cell.source):
                problems.append(f"{where}: a check cell must call check(\"<exercise id>\")")
            elif not check_output_passed(cell):
                problems.append(f"{where}: the stored output must be the passing report")
        elif cell.outputs:
            problems.append(f"{where}: stored output on a cell that is not a check cell")
    return problems


# -- the crash rule, inside the kernel ------------------------------------------------------
# Installed once per kernel. A filter on the two loggers sees every record (even when a demo server
# turned its log level down to hide a deliberate crash: uvicorn sets levels process-wide, so that would
# hide the course server's crashes too), and still drops what the logger's own level would have dropped,
# so the learner-visible output is unchanged.
_PROBE_SETUP = """
import logging as _logging, sys as _sys, threading as _threading
if not hasattr(_sys, "_course_crash_probe"):
    class _CourseCrashProbe(_logging.Filter):
        MARKS = %r

        def __init__(self):
            super().__init__()
            self._lock = _threading.Lock()
            self._seen = []

        def filter(self, record):
            if record.levelno >= _logging.ERROR:
                text = str(record.msg)
                if any(mark in text for mark in self.MARKS):
                    exc = record.exc_info[1] if record.exc_info else None
                    where = text.strip().splitlines()[0]
                    with self._lock:
                        self._seen.append(f"{record.name}: {where}" + (f" ({type(exc).__name__}: {exc})" if exc else ""))
            return record.levelno >= _logging.getLogger(record.name).getEffectiveLevel()

        def take(self):
            with self._lock:
                seen, self._seen = self._seen, []
            return seen

    _probe = _CourseCrashProbe()
    for _name in ("uvicorn.error", "asyncio"):
        _logger = _logging.getLogger(_name)
        _logger.addFilter(_probe)
        _logger.isEnabledFor = lambda level: True  # let the filter see every record
    _sys._course_crash_probe = _probe
""" % (CRASH_MARKS,)


class CrashProbe:
    """The crash rule for one kernel, driven through its client (nbclient's or nbval's).

    ``execute(code, user_expressions)`` sends code and returns the reply's content.
    """

    def __init__(self, execute: Any) -> None:
        self._execute = execute
        reply = execute(_PROBE_SETUP, {})
        if reply.get("status") != "ok":
            raise RuntimeError(f"could not install the crash probe in the kernel: {reply}")

    def take(self) -> list[str]:
        """The crash lines logged since the last call."""
        import ast
        import json

        reply = self._execute("", {"crashes": "__import__('json').dumps(__import__('sys')._course_crash_probe.take())"})
        value = reply.get("user_expressions", {}).get("crashes", {})
        if value.get("status") != "ok":
            return [f"(the crash probe failed: {value})"]
        return list(json.loads(ast.literal_eval(value["data"]["text/plain"])))


def is_deliberate(cell: Any) -> bool:
    """A cell tagged as a deliberate failure may raise, and may make the server log a crash."""
    return bool(DELIBERATE_TAGS & set(cell.get("metadata", {}).get("tags", [])))


def crash_problem(where: str, cell: Any, crashes: list[str]) -> str | None:
    if not crashes or is_deliberate(cell):
        return None
    first = cell.source.strip().splitlines()[0][:80] if cell.source.strip() else ""
    return (f"{where} ({first!r}) made the server log a crash: {'; '.join(crashes)}. "
            "A peer that went away is a normal end, not an error: fix the route or the cell; "
            "if the crash is the lesson, tag the cell `server-error-expected` (see docs/authoring.md).")


# -- check cells, compared the way nbval compares them --------------------------------------
def _sanitizers() -> list[tuple[str, str]]:
    text = SANITIZE_FILE.read_text() if SANITIZE_FILE.exists() else ""
    return re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.MULTILINE)


def _streams(outputs: list[Any]) -> list[tuple[str, str]]:
    """Stream outputs, consecutive chunks of one stream joined, sanitized (as nbval does)."""
    merged: list[list[str]] = []
    for out in outputs:
        if out.get("output_type") != "stream":
            merged.append([out.get("output_type", "?"), ""])
            continue
        if merged and merged[-1][0] == out["name"]:
            merged[-1][1] += out["text"]
        else:
            merged.append([out["name"], out["text"]])
    patterns = _sanitizers()
    result = []
    for name, text in merged:
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        result.append((name, text))
    return result


def compare_check_output(cell: Any, stored: list[Any]) -> str | None:
    """None when the check cell passed and its output matches the stored one; else what differs."""
    got = cell_text(cell)
    if not check_output_passed(cell):
        return "the check did not pass:\n" + (got or "(no output)")
    if _streams(cell.outputs) != _streams(stored):
        stored_text = "".join(t for _, t in _streams(stored))
        return ("the check passed but its report differs from the stored one "
                "(refresh the notebook: python -m course_app.dev refresh <notebook>):\n"
                f"--- stored\n{stored_text}--- got\n{got}")
    return None


# -- Run All, twice, in one kernel ------------------------------------------------------------
def run_notebook(path: Path, runs: int = 2, timeout: int = 300) -> list[str]:
    """Run every cell ``runs`` times in one kernel (solutions mode); return what broke the rules.

    The rules: only cells tagged ``raises-exception`` may raise; no cell may make the server log a
    crash unless tagged (see DELIBERATE_TAGS); every check cell passes and prints the report stored
    in the notebook, timings and ports aside.
    """
    import copy

    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbclient.util import run_sync

    os.environ["COURSE_SOLUTIONS"] = "1"
    nb = nbformat.read(path, as_version=4)
    stored = {i: copy.deepcopy(c.outputs) for i, c in enumerate(nb.cells) if is_check_cell(c)}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    problems: list[str] = []
    with client.setup_kernel():
        kc: Any = client.kc
        get_reply = run_sync(kc.get_shell_msg)

        def execute(code: str, expressions: dict[str, str]) -> dict[str, Any]:
            msg_id = kc.execute(code, silent=True, store_history=False, user_expressions=expressions)
            while True:
                reply = get_reply(timeout=60)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return dict(reply["content"])

        probe = CrashProbe(execute)
        for run in range(1, runs + 1):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                where = f"{path.name} run {run} cell {index}"
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as err:
                    problems.append(f"{where} raised, and is not tagged raises-exception:\n{str(err)[-1500:]}")
                    return problems
                problem = crash_problem(where, cell, probe.take())
                if problem:
                    problems.append(problem)
                if index in stored:
                    difference = compare_check_output(cell, stored[index])
                    if difference:
                        problems.append(f"{where}: {difference}")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["refresh"]:
        for name in argv[1:]:
            refresh(Path(name).resolve())
            print(f"refreshed {name}")
        return 0
    if argv[:1] == ["run"]:
        failed = 0
        for name in argv[1:]:
            problems = run_notebook(Path(name).resolve())
            print("\n".join(problems) or f"{name}: Run All twice: no errors, no server crashes, check cells as stored")
            failed += bool(problems)
        return 1 if failed else 0
    if argv[:1] == ["lint"]:
        problems = [p for nb in sorted((ROOT / "notebooks").glob("*.ipynb")) for p in lint_notebook(nb)]
        print("\n".join(problems) or "notebooks: all conventions hold")
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
