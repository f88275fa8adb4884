"""Maintainer tools for the notebooks (not for learners).

    python -m course_app.dev refresh notebooks/01_async_await.ipynb   # run in solutions mode, keep only check outputs
    python -m course_app.dev lint                                      # the conventions tests/ enforces

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

__all__ = ["lint_notebook", "refresh", "strip"]

ROOT = Path(__file__).resolve().parents[1]
CHECK_MARK = "NBVAL_CHECK_OUTPUT"
_MACHINE_PATH = re.compile(r"(/root/|/tmp/|/work/|/home/[a-z]|[A-Z]:\\\\Users)")
_TWO_SENTENCES = re.compile(r"[a-z0-9)\]`*][.!?] +[A-Z]")
_CHECK_CALL = re.compile(r"""check\(\s*["'](ch\d\d_[a-z0-9_]+)["']""")


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


def main(argv: list[str]) -> int:
    if argv[:1] == ["refresh"]:
        for name in argv[1:]:
            refresh(Path(name).resolve())
            print(f"refreshed {name}")
        return 0
    if argv[:1] == ["lint"]:
        problems = [p for nb in sorted((ROOT / "notebooks").glob("*.ipynb")) for p in lint_notebook(nb)]
        print("\n".join(problems) or "notebooks: all conventions hold")
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
