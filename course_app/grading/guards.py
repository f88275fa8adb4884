"""Guards the check worker puts around learner code, installed before the learner's file is imported.

* no keyboard: ``input()`` fails at once with a message saying why, instead of
  waiting for a key press that can never come;
* nothing escapes: the worker adopts every orphan its children leave (a child
  subreaper, Linux), and ends all its descendants before it exits;
* no silent exit: ``os._exit()``, ``os.abort()`` or a fatal signal sent to
  itself by learner code leave a note naming the learner's line, which the
  runner shows in place of "ended without a result";
* no leftovers: when the process that started the check dies (even by learner
  code killing it), the worker removes its temporary folder and exits.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

__all__ = ["EXIT_NOTE", "PARENT_GONE", "InputUnavailable", "end_descendants", "install"]

EXIT_NOTE = "exit.txt"  # in the check's temporary folder: where learner code ended the process
PARENT_GONE = 75  # exit code when the worker leaves because its parent died
_PARENT_POLL = 0.25
_real_exit = os._exit
_real_abort = os.abort


class InputUnavailable(RuntimeError):
    """Learner code called ``input()``; checks run without a keyboard."""


class _NoKeyboard:
    """Stands in for ``sys.stdin``: any read fails with a message, never waits."""

    encoding = "utf-8"
    errors = "strict"

    def _refuse(self, *args: object) -> NoReturn:
        raise InputUnavailable(
            "input() waits for someone to type, and a check has no keyboard. "
            "Take the value as a function parameter (or from the request) instead"
        )

    read = readline = readlines = _refuse

    def fileno(self) -> int:
        raise OSError("a check has no standard input")

    def isatty(self) -> bool:
        return False

    def __iter__(self) -> _NoKeyboard:
        return self

    def __next__(self) -> str:
        self._refuse()


def install(learner_file: Path, workdir: Path) -> None:
    """Set every guard up; call once in the worker, before importing the learner's file."""
    sys.stdin = _NoKeyboard()
    _become_subreaper()
    target = str(learner_file.resolve())
    note = workdir / EXIT_NOTE

    def leave_note(action: str) -> None:
        where = _learner_line(sys._getframe(2), target)
        if where:
            with contextlib.suppress(OSError):
                note.write_text(f"your code {action} at {where}")

    parent = os.getppid()

    def recording_exit(code: int) -> NoReturn:  # also the worker's own way out, after writing its result
        leave_note(f"called os._exit({code})")
        end_descendants()
        if os.getppid() != parent:  # nobody is left to read the result or remove the folder
            shutil.rmtree(workdir, ignore_errors=True)
        _real_exit(code)

    def recording_abort() -> NoReturn:
        leave_note("called os.abort()")
        end_descendants()
        _real_abort()

    me = os.getpid()

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event not in ("os.kill", "os.killpg") or len(args) != 2:
            return
        target_id, sig = args
        ours = target_id in (me, 0) if event == "os.kill" else target_id in (os.getpgid(0), 0)
        if ours and sig not in (0, signal.SIGCHLD, signal.SIGWINCH):
            leave_note(f"sent {_signal_name(sig)} to the check process")

    setattr(os, "_exit", recording_exit)
    setattr(os, "abort", recording_abort)
    sys.addaudithook(audit)
    threading.Thread(target=_watch_parent, args=(parent, workdir), name="course-parent-watch", daemon=True).start()


def end_descendants() -> None:
    """SIGKILL every process this one started (and every orphan it adopted). Cheap when there are none."""
    if not _has_children():
        return
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - psutil is a course dependency
        return
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()


def _has_children() -> bool:
    """Linux: read /proc/self/task/*/children without importing anything; elsewhere assume yes."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return True
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                if f.read().strip():
                    return True
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        except OSError:
            return True
    return False


def _watch_parent(parent: int, workdir: Path) -> None:
    """The course command (or notebook) that started us died: clean up after it and leave."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL)
    end_descendants()
    shutil.rmtree(workdir, ignore_errors=True)
    _real_exit(PARENT_GONE)


def _become_subreaper() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        pr_set_child_subreaper = 36
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0)


def _learner_line(frame: FrameType | None, target: str) -> str | None:
    """The innermost frame of the learner's file on this stack, as ``file, line N, in f: code``."""
    from course_app.grading.tracing import relative

    while frame is not None:
        if frame.f_code.co_filename == target:
            line = linecache.getline(target, frame.f_lineno).strip()
            return f"{relative(target)}, line {frame.f_lineno}, in {frame.f_code.co_name}: {line}"
        frame = frame.f_back
    return None


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def main(argv: list[str]) -> None:
    """Entry point: ``python -m course_app.grading.guards <worker arguments>`` runs the worker, guarded."""
    import runpy

    learner_file, out = Path(argv[1]), Path(argv[2])
    install(learner_file, out.parent)
    sys.argv = ["course_app.grading.worker", *argv]
    runpy.run_module("course_app.grading.worker", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    from course_app.grading.guards import main as guarded_main  # the package's copy, not this __main__ one

    guarded_main(sys.argv[1:])
