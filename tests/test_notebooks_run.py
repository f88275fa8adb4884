"""Restart and Run All, twice in a row in one kernel: every notebook survives it.

Cells tagged ``raises-exception`` (the "break it" demos) may raise; nothing else
may. The second run proves re-running cells is safe: servers restart on the same
name, nothing is left bound or running.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_app.dev import cell_text, check_output_passed, is_check_cell

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_run_all_twice_in_one_kernel(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_SOLUTIONS", "1")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        for _run in range(2):
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
    for cell in nb.cells:
        if is_check_cell(cell):
            assert check_output_passed(cell), cell_text(cell)
