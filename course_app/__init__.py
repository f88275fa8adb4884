"""course_app: the shared FastAPI app of the course, and the tools around it.

Notebooks start with::

    from course_app import start_server, check, hint
    server = start_server()        # the shared app on a free port, in a background thread

The names are imported on first use, so ``import course_app.realtime.codes`` or the
exercise registry stays light (no uvicorn, httpx or redis).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["check", "hint", "start_server", "stop_server"]

_WHERE = {
    "check": "course_app.grading",
    "hint": "course_app.grading",
    "start_server": "course_app.server",
    "stop_server": "course_app.server",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'course_app' has no attribute {name!r}")
