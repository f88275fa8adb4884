"""Shared fixtures: the course root, and a clean environment for every test."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _course_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COURSE_ROOT", str(ROOT))
    monkeypatch.chdir(tmp_path)
