"""Shared fixtures: the course root, and a clean environment for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from course_app.app import create_app
from course_app.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _course_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COURSE_ROOT", str(ROOT))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    """The shared course app on a real socket, one per test module."""
    with BackgroundServer(create_app()) as running:
        yield running
