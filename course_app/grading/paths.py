"""Where the course lives on disk, and which copy of an exercise is being checked."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["course_root", "exercise_path", "pristine_source", "solutions_mode", "state_dir"]


def course_root() -> Path:
    """The folder holding exercises/ and solutions/: COURSE_ROOT, a parent of cwd, or the repo."""
    env = os.environ.get("COURSE_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "exercises").is_dir() and (folder / "solutions").is_dir():
            return folder
    return Path(__file__).resolve().parents[2]


def solutions_mode() -> bool:
    """True when COURSE_SOLUTIONS=1: checks read solutions/ instead of exercises/."""
    return os.environ.get("COURSE_SOLUTIONS", "").strip().lower() in {"1", "true", "yes", "on"}


def exercise_path(exercise_id: str, solutions: bool | None = None) -> Path:
    folder = "solutions" if (solutions_mode() if solutions is None else solutions) else "exercises"
    return course_root() / folder / f"{exercise_id}.py"


def state_dir() -> Path:
    """Per-learner state (hints shown, last results): .course/ in the course root, never committed."""
    path = course_root() / ".course"
    path.mkdir(exist_ok=True)
    return path


def pristine_source(exercise_id: str) -> str:
    """The untouched stub as the course shipped it: from git (the upstream branch, else HEAD).

    Learners edit exercises/ in place, so the file on disk is not the pristine copy.
    """
    root = course_root()
    rel = f"exercises/{exercise_id}.py"
    for rev in ("@{upstream}", "HEAD"):
        try:
            out = subprocess.run(
                ["git", "-C", str(root), "show", f"{rev}:{rel}"],
                capture_output=True, timeout=10, check=True,
            )
            return out.stdout.decode()
        except (OSError, subprocess.SubprocessError):
            continue
    raise LookupError(
        f"The original {rel} is not in this folder's git history. "
        "If you downloaded the course as a zip, download that file again from the course repository."
    )
